"""Issue 9 item 4: hostile or broken input gets one clear line and exit 2, within bounded memory
and time — asserted with resource limits on the real CLI process, never with timings."""

from __future__ import annotations

import os
import resource
import subprocess
from pathlib import Path

import pytest

from tests.conftest import KONTINUE, ROOT

MEMORY = 2 * 1024**3  # address space: the bombs below need hundreds of GB expanded
CPU_SECONDS = 120

BOMB = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _bounded(state: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI under memory and CPU limits; a hang or blow-up ends in a signal, not 2."""
    return subprocess.run(
        [*KONTINUE, "--state-dir", str(state), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
        preexec_fn=_limits,
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bomb.yaml").write_text(BOMB)
    (tmp_path / "deep.yaml").write_text("[" * 10_000 + "]" * 10_000 + "\n")
    (tmp_path / "deep.json").write_text("[" * 10_000 + "]" * 10_000 + "\n")
    (tmp_path / "self.yaml").write_text("a: &x [1, *x]\n")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "folder").mkdir()
    (tmp_path / "hello.yaml").write_text((ROOT / "pipelines" / "hello.yaml").read_text())
    fns = tmp_path / "fns.py"
    fns.write_text(
        "import kontinue\n\n@kontinue.function('f')\ndef f(ktx, args: dict):\n  return 1\n"
    )
    return tmp_path


CASES = {
    "validate a billion laughs": (["validate", "bomb.yaml"], "bomb.yaml:5:8: too many aliases"),
    "create -f a billion laughs": (
        ["create", "-f", "bomb.yaml"],
        "bomb.yaml:5:8: too many aliases",
    ),
    "params file bomb": (
        ["submit", "hello.yaml", "--params-file", "bomb.yaml"],
        "bomb.yaml:5:8: too many aliases",
    ),
    "args file bomb": (
        ["execute", "f", "--import", "fns.py", "--args-file", "bomb.yaml"],
        "bomb.yaml:5:8: too many aliases",
    ),
    "validate deep nesting": (["validate", "deep.yaml"], "deep.yaml:1:"),
    "deep params file": (["submit", "hello.yaml", "--params-file", "deep.yaml"], "deep.yaml:1:"),
    "deep JSON args": (
        ["execute", "f", "--import", "fns.py", "--args-file", "deep.json"],
        "deep.json:1:1001: nested more than 100 levels deep",
    ),
    "deep JSON params file": (
        ["submit", "hello.yaml", "--params-file", "deep.json"],
        "deep.json:1:1001: nested more than 100 levels deep",
    ),
    "self-referencing alias": (["validate", "self.yaml"], "self.yaml:1:11: alias *x refers"),
    "-p without =": (["submit", "hello.yaml", "-p", "name"], "'name' must be written as key=value"),
    "-p alias bomb value": (["submit", "hello.yaml", "-p", "name=[*a]"], "param 'name'"),
    "binary params file": (
        ["submit", "hello.yaml", "--params-file", "binary.yaml"],
        "binary.yaml is a binary file",
    ),
    "directory as params file": (
        ["submit", "hello.yaml", "--params-file", "folder"],
        "params file folder is a directory",
    ),
    "missing params file": (
        ["submit", "hello.yaml", "--params-file", "nope.yaml"],
        "params file nope.yaml does not exist",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_one_line_and_exit_2(files: Path, case: str) -> None:
    args, expected = CASES[case]
    done = _bounded(files / "state", *args, cwd=files)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_huge_pipeline_is_refused_before_it_is_parsed(files: Path) -> None:
    step = "  - name: s{0}\n    script: {{image: alpine:3.20, command: echo {0}}}\n"
    big = files / "big.yaml"
    with big.open("w") as fh:
        fh.write("apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: big}\n")
        fh.write("steps:\n")
        for i in range(80_000):
            fh.write(step.format(i))
    assert big.stat().st_size > 4 * 1024 * 1024
    done = _bounded(files / "state", "validate", "big.yaml", cwd=files)
    assert done.returncode == 2
    assert "big.yaml:1:1: the pipeline is" in done.stderr and "more than the limit" in done.stderr
