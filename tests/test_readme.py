"""The front page never shows something that fails: every code block of the README is checked.

YAML blocks are validated by the real CLI, Python blocks are run (the durable function in a
real Environment on virtual time, in a subprocess of its own), and every `kontinue ...` command
of a shell block must parse with the real argument parser.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kontinue.cli._main import build_parser
from tests.conftest import CLI, ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.S | re.M)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_the_readme_has_the_blocks_this_test_checks() -> None:
    assert len(_blocks("yaml")) >= 1 and len(_blocks("python")) >= 1 and len(_blocks("sh")) >= 3
    assert {kind for kind, _ in BLOCKS} <= {"yaml", "python", "sh"}, "a block nobody checks"


@pytest.mark.parametrize("index", range(len(_blocks("yaml"))))
def test_every_yaml_block_is_a_valid_pipeline(cli: CLI, tmp_path: Path, index: int) -> None:
    path = tmp_path / f"readme-{index}.yaml"
    path.write_text(_blocks("yaml")[index])
    result = cli("validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


RUNNER = """
import json, sys
from kontinue.runtime import REGISTRY
from kontinue.testing import Environment

exec(compile(open(sys.argv[1]).read(), "README.md", "exec"), {"__name__": "readme"})
names = [n for n in REGISTRY.names() if not n.startswith("kontinue.")]
report = {"functions": names}
with Environment(registry=REGISTRY) as env:
    for name in names:
        args = json.loads(sys.argv[2]).get(name)
        if args is None:
            continue
        ex = env.execute(name, args)
        while ex.status.phase == "Suspended":  # an approval gate: approve it, as a user would
            env.resume(ex.metadata.name)
            ex = env.run(ex.metadata.name)
        report[name] = {"phase": ex.status.phase, "result": ex.status.result,
                        "error": ex.status.error.message if ex.status.error else None}
print(json.dumps(report))
"""

ARGS = {"deploy-service": {"service": "api", "replicas": 3}}


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_every_python_block_runs(tmp_path: Path, index: int) -> None:
    code = tmp_path / "block.py"
    code.write_text(_blocks("python")[index])
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUNNER), str(code), json.dumps(ARGS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["functions"], "the block registers no function"
    ran = [name for name in report["functions"] if name in report]
    assert ran, "no function of the block was run; give it arguments in ARGS"
    for name in ran:
        assert report[name]["phase"] == "Completed", report[name]
    if "deploy-service" in report:
        assert report["deploy-service"]["result"] == {"release": "api-2024.1"}


def _commands() -> list[str]:
    found = []
    for body in _blocks("sh"):
        for line in body.replace("\\\n", " ").splitlines():  # join continued lines
            line = line.split("  #")[0].strip()
            for part in re.split(r"\s*(?:;|&&)\s*", line):
                if part.startswith("kontinue "):
                    found.append(part)
    return found


@pytest.mark.parametrize("command", _commands())
def test_every_kontinue_command_of_the_readme_parses(command: str) -> None:
    words = shlex.split(command)[1:]
    try:
        build_parser().parse_args(words)
    except SystemExit as exc:  # argparse's way of refusing
        pytest.fail(f"README command does not parse: {command} (exit {exc.code})")
