"""`kontinue resume` finds what the user sees, and in-process commands re-import functions.

Every hint the CLI prints here is pasted into a shell as printed and must work.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

from tests.cli._paste import hints, paste
from tests.conftest import CLI, start_kontinue, stop, wait_for

FNS = Path(__file__).parent / "fns_sources.py"


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_printed_hints_work_when_pasted_and_functions_are_imported_again(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    shutil.copy(FNS, tmp_path / "fan.py")
    first = cli("execute", "fan", "--import", "fan.py", "-a", "n=41", "--name", "fan1")
    assert first.returncode == 0, first.stderr
    assert hints(first.stderr) == [f"kontinue resume fan1 suspend-1 --state-dir {state_dir}"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # pasted from another directory, with no --import: the Function records fan.py
    second = paste(hints(first.stderr)[0], cwd=elsewhere)
    assert second.returncode == 0, second.stderr
    _clean(second)
    # the child's gate is resumed from the root, by its step name
    assert hints(second.stderr) == [f"kontinue resume fan1 approve --state-dir {state_dir}"]
    third = paste(hints(second.stderr)[0], cwd=elsewhere)
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout) == {"kid": 42}
    assert "Execution fan1 completed" in third.stderr
    functions = json.loads(cli("functions", "-o", "json").stdout)
    sources = {f["metadata"]["name"]: f["spec"].get("source") for f in functions}
    assert sources["fan"] == {"file": str((tmp_path / "fan.py").resolve())}


def test_a_moved_file_is_a_clear_error_and_changes_nothing(cli: CLI, tmp_path: Path) -> None:
    shutil.copy(FNS, tmp_path / "fan.py")
    assert cli("execute", "fan", "--import", "fan.py", "--name", "fan1").returncode == 0
    (tmp_path / "fan.py").rename(tmp_path / "moved.py")
    result = cli("resume", "fan1")
    assert result.returncode == 2
    assert f"was imported from {(tmp_path / 'fan.py').resolve()}, which no longer exists" in (
        result.stderr
    )
    _clean(result)
    tree = cli("tree", "fan1").stdout
    assert "suspend suspend-1: waiting" in tree  # the gate was not resolved
    again = cli("resume", "fan1", "suspend-1", "--import", "moved.py")
    assert again.returncode == 0, again.stderr
    assert "approve with: kontinue resume fan1 approve" in again.stderr


def test_a_file_that_no_longer_registers_the_function_is_named(cli: CLI, tmp_path: Path) -> None:
    shutil.copy(FNS, tmp_path / "fan.py")
    assert cli("execute", "fan", "--import", "fan.py", "--name", "fan1").returncode == 0
    text = (tmp_path / "fan.py").read_text().replace('function("kid"', 'function("kid2"')
    (tmp_path / "fan.py").write_text(text)
    result = cli("resume", "fan1")
    assert result.returncode == 2
    assert "function 'kid' was imported from" in result.stderr
    assert "which no longer registers it (registered now:" in result.stderr
    _clean(result)


def test_without_a_recorded_source_resume_says_what_to_do(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "fan.yaml").write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Execution\n"
        "metadata: {name: f}\nspec: {function: fan}\n"
    )
    assert cli("create", "-f", "fan.yaml", "--no-wait").returncode == 0
    result = cli("resume", "f")
    assert result.returncode == 2
    assert "function(s) fan are not imported and no Function resource records" in result.stderr
    assert "pass --import MODULE|FILE.py, or --no-wait" in result.stderr
    _clean(result)
    nothing = cli("resume", "f", "--no-wait")
    assert nothing.returncode == 2 and "has no open gate or sleep" in nothing.stderr
    ran = cli("resume", "f", "--import", str(FNS))
    assert ran.returncode == 0, ran.stderr
    assert "approve with: kontinue resume f suspend-1" in ran.stderr


PARALLEL_GATES = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: two-gates}
steps:
  - name: approvals
    parallel:
      - name: qa
        suspend: {displayName: QA sign-off}
      - name: security
        suspend: {displayName: Security sign-off}
  - name: done
    script: {image: alpine, command: echo shipped}
"""


def test_several_open_gates_are_listed_and_each_listed_command_works(
    cli: CLI, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(PARALLEL_GATES)
    first = cli("submit", "p.yaml", "--name", "tg")
    assert first.returncode == 0, first.stderr
    which = cli("resume", "tg")
    assert which.returncode == 2
    assert "Execution tg has 2 open gates or sleeps; name the one to resume" in which.stderr
    listed = hints(which.stderr)
    assert [c.split()[3] for c in listed] == ["qa", "security"]
    _clean(which)
    wrong = cli("resume", "tg", "qa-typo")
    assert wrong.returncode == 2 and "has no gate or sleep 'qa-typo'" in wrong.stderr
    one = paste(listed[0], cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    again = cli("resume", "tg", "qa")
    assert again.returncode == 2 and "was already resumed by" in again.stderr
    # one gate left: no step needed
    last = cli("resume", "tg")
    assert last.returncode == 0, last.stderr
    assert "Execution tg completed" in last.stderr


SOAK = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: soaker}
steps:
  - name: soak
    sleep: 1h
  - name: approve-production
    suspend: {displayName: Ship it}
"""


def test_a_sleep_is_woken_by_its_step_name(cli: CLI, tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "p.yaml").write_text(SOAK)
    assert cli("submit", "p.yaml", "--name", "s", "--no-wait").returncode == 0
    runner = start_kontinue(state_dir, "resume", "s")  # runs it on until the hour-long sleep

    def sleeping() -> bool:
        return "sleep soak: waiting" in cli("tree", "s").stdout

    try:
        wait_for(sleeping, what="the soak sleep")
    finally:
        stop(runner, signal.SIGINT)  # Ctrl-C: the state is kept
    woken = cli("resume", "s", "soak")
    assert woken.returncode == 0, woken.stderr
    assert "resumed sleep soak of Execution s" in woken.stderr
    assert "approve with: kontinue resume s approve-production" in woken.stderr
    done = paste(hints(woken.stderr)[0], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Execution s completed" in done.stderr
