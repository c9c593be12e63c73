"""The first CLI verbs, run as real processes against a real state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import CLI, ROOT

FNS = str(Path(__file__).parent / "fns_cli.py")


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_execute_runs_to_completion_and_prints_result(cli: CLI) -> None:
    result = cli(
        "execute", "greet", "--import", FNS, "-a", "name=ada", "-a", "times=3", "--name", "hi"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greetings": [f"hello ada #{i}" for i in range(3)]}
    assert "hi (greet)  Completed  [3/3]  greeted ada" in result.stderr
    got = cli("get", "hi", "-o", "json")
    doc = json.loads(got.stdout)
    assert doc["kind"] == "Execution" and doc["apiVersion"] == "kontinue.cloud/v1alpha1"
    assert doc["status"]["phase"] == "Completed"
    assert doc["status"]["result"]["greetings"][2] == "hello ada #2"
    assert doc["status"]["resumptions"] == 0
    assert doc["status"]["steps"] == 3
    assert doc["spec"] == {"function": "greet", "arguments": {"name": "ada", "times": 3}}
    as_yaml = YAML(typ="safe").load(cli("get", "hi", "-o", "yaml").stdout)
    assert as_yaml == doc


def test_execute_failure_exits_1_with_the_error(cli: CLI) -> None:
    result = cli("execute", "explode", "--import", FNS, "-a", "env=staging", "--name", "boom")
    assert result.returncode == 1
    assert "Execution boom failed: Execution: cannot deploy to staging" in result.stderr
    assert "kontinue retry boom" in result.stderr
    _no_traceback(result)


def test_args_file_and_overrides(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "args.yaml").write_text("name: grace\ntimes: 1\n")
    result = cli(
        "execute",
        "greet",
        "--import",
        FNS,
        "--args-file",
        "args.yaml",
        "-a",
        "times=2",
        "-o",
        "yaml",
    )
    assert result.returncode == 0, result.stderr
    assert YAML(typ="safe").load(result.stdout) == {
        "greetings": ["hello grace #0", "hello grace #1"]
    }


def test_list_shows_phase_and_progress(cli: CLI) -> None:
    cli("execute", "greet", "--import", FNS, "-a", "name=x", "--name", "one")
    cli("execute", "explode", "--import", FNS, "--name", "two")
    table = cli("list").stdout.splitlines()
    assert table[0].split() == ["NAME", "FUNCTION", "PHASE", "PROGRESS", "AGE", "MESSAGE"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows["one"][1:4] == ["greet", "Completed", "2/2"]
    assert rows["two"][1:3] == ["explode", "Failed"]
    doc = json.loads(cli("list", "-o", "json").stdout)
    assert doc["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in doc["items"]) == ["one", "two"]


def test_functions_lists_what_a_worker_published(cli: CLI) -> None:
    listed = cli("functions", "--import", FNS)
    assert "greet" in listed.stdout and "Greet someone a few times" in listed.stdout


def test_user_mistakes_are_one_line_exit_2(cli: CLI, tmp_path: Path) -> None:
    cases = [
        (
            ("execute", "nope", "--import", FNS),
            "unknown function 'nope' (registered: delegates, explode, greet, kontinue.pipeline)",
        ),
        (("execute", "greet", "--import", FNS, "-a", "times=lots"), "name: Field required"),
        (("execute", "greet", "--import", FNS, "-a", "oops"), "is not of the form key=value"),
        (("execute", "greet", "--import", "missing_module_xyz"), "cannot import module"),
        (("execute", "greet", "--import", "nothere.py"), "nothere.py does not exist"),
        (("get", "nothing-here"), 'Execution "nothing-here" not found'),
        (
            ("execute", "greet", "--args-file", "none.yaml"),
            "arguments file none.yaml does not exist",
        ),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stderr.startswith("kontinue: error: ")
        _no_traceback(result)
    broken = tmp_path / "broken.py"
    broken.write_text("import kontinue\n\ndef f(:\n")
    result = cli("execute", "x", "--import", str(broken))
    assert result.returncode == 2 and f"{broken}:3" in result.stderr
    _no_traceback(result)


def test_missing_state_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontinue", "--state-dir", str(tmp_path / "nope"), "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert f"no kontinue state directory at {tmp_path / 'nope'}" in result.stderr
    _no_traceback(result)


def test_kontinue_home_is_the_default_state_dir(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KONTINUE_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [sys.executable, "-m", "kontinue", "execute", "greet", "--import", FNS, "-a", "name=k"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "home" / "kontinue.db").is_file()
    assert not (tmp_path / ".kontinue").exists()


def test_shell_completion_of_verbs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": "kontinue re",
        "COMP_POINT": "11",
        "_ARGCOMPLETE_SUPPRESS_SPACE": "1",
    }
    out = tmp_path / "completions"
    with open(out, "w") as fh:
        subprocess.run(
            [sys.executable, "-m", "kontinue"],
            env={**env, "_ARGCOMPLETE_STDOUT_FILENAME": str(out)},
            stdout=fh,
            stderr=subprocess.DEVNULL,
            check=False,
            pass_fds=(),
        )
    words = set(out.read_text().split())
    assert {"resume", "retry"} <= words


MANIFEST = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Execution
metadata:
  generateName: greet-
spec:
  function: greet
  arguments:
    name: manifest
    times: 1
  retry:
    retries: 2
"""


def test_create_from_an_original_platform_manifest(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_text(MANIFEST)
    result = cli("create", "-f", "greet.yaml", "--import", FNS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("execution.kontinue.cloud/greet-")
    name = result.stdout.split("/")[1].split()[0]
    doc = json.loads(cli("get", name, "-o", "json").stdout)
    assert doc["status"]["phase"] == "Completed"
    assert doc["spec"]["retry"] == {"retries": 2, "backoff": "5s", "childPolicy": "None"}


def test_create_rejects_bad_manifests(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")
    (tmp_path / "bad.yaml").write_text(MANIFEST.replace("retries: 2", "retries: many"))
    pod = cli("create", "-f", "pod.yaml")
    assert pod.returncode == 2 and "kind 'Pod' is not supported here" in pod.stderr
    bad = cli("create", "-f", "bad.yaml")
    assert bad.returncode == 2 and "spec.retry.retries" in bad.stderr
    _no_traceback(bad)


def test_in_process_run_says_when_a_child_needs_another_worker(cli: CLI) -> None:
    result = cli("execute", "delegates", "--import", FNS, "--name", "d")
    assert result.returncode == 2, result.stderr  # not run to the end: not a success
    assert (
        "Execution d-execute-1 waits for a worker that runs function 'defined-elsewhere'"
        in result.stderr
    )
    assert json.loads(cli("get", "d", "-o", "json").stdout)["status"]["phase"] == "Suspended"


def test_a_bug_in_a_function_points_at_its_line(cli: CLI, tmp_path: Path) -> None:
    buggy = tmp_path / "buggy.py"
    buggy.write_text(
        "import kontinue\n\n\n@kontinue.function('buggy')\n"
        "def buggy(ktx, args: dict) -> dict:\n    return {'b': args['missing']}\n"
    )
    result = cli("execute", "buggy", "--import", str(buggy), "--name", "b")
    assert result.returncode == 1
    assert "Execution b failed: Execution: KeyError: 'missing'" in result.stderr
    assert f'raised at File "{buggy}", line 6, in buggy' in result.stderr
    _no_traceback(result)
    shown = cli("get", "b").stdout
    assert "Raised at (most recent call last):" in shown and "args['missing']" in shown
    assert "kontinue/runtime" not in shown
