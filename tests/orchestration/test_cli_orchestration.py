"""The orchestration verbs of the CLI, run as real processes on a state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store

from ..conftest import CLI, ROOT

FNS = str(Path(__file__).resolve().parent / "fns_orch_cli.py")


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


def _status(state_dir: Path, name: str) -> Execution:
    store = open_store(state_dir)
    try:
        return store.get(Execution, "default", name)
    finally:
        store.close()


def test_execute_stops_at_the_gate_tree_shows_it_and_resume_finishes(
    cli: CLI, state_dir: Path
) -> None:
    out = _ok(cli("execute", "orch-cli-release", "--name", "rel", "--import", FNS))
    assert "Execution rel is waiting for approval: Approve production" in out
    assert "approve with: kontinue resume rel approve --state-dir" in out
    # the children and their timers ran in the CLI process
    for child in ("rel-execute-1", "rel-execute-2"):
        assert _status(state_dir, child).status.phase == "Completed"
    assert _status(state_dir, "rel").status.phase == "Suspended"

    tree = _ok(cli("tree", "rel"))
    lines = tree.splitlines()
    assert lines[0] == (
        "rel (orch-cli-release)  Suspended  [2/2]  waiting for approval: Approve production"
    )
    assert "  - store Tag: done" in lines
    assert "  - suspend Approve production: waiting" in lines
    assert "  rel-execute-1 (orch-cli-part)  Completed  [1/2]  built api" in lines
    assert "  rel-execute-2 (orch-cli-part)  Completed  [1/2]  built web" in lines
    assert "    - sleep sleep-1: done" in lines

    result = cli("resume", "rel", "--import", FNS)
    out = _ok(result)
    assert "resumed gate Approve production of Execution rel" in out
    assert "Execution rel completed" in out
    assert json.loads(result.stdout) == {"parts": ["api", "web"], "approved": True}
    assert _status(state_dir, "rel").status.phase == "Completed"

    tree = _ok(cli("tree", "rel"))
    assert tree.splitlines()[0] == "rel (orch-cli-release)  Completed  [2/2]"
    gate = [line for line in tree.splitlines() if line.startswith("  - suspend Approve production")]
    assert gate and gate[0].startswith("  - suspend Approve production: resolved by ")
    assert "(kontinue resume) at " in gate[0]

    again = cli("resume", "rel")
    assert again.returncode == 2
    assert "Completed and has no open gate or sleep to resume" in again.stderr


def test_retry_starts_a_new_attempt_that_keeps_the_journal(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    out = _ok(
        cli("execute", "orch-cli-flaky", "-a", f"marks={marks}", "--name", "fl", "--import", FNS),
        code=1,
    )
    assert "Execution fl failed" in out and "the database was read-only" in out
    assert "kontinue retry fl" in out
    assert _status(state_dir, "fl").status.phase == "Failed"

    result = cli("retry", "fl", "--import", FNS)
    out = _ok(result)
    assert "Execution fl will run a new attempt" in out
    assert "Execution fl completed" in out
    assert json.loads(result.stdout) == {"attempts": 1}
    ex = _status(state_dir, "fl")
    assert (ex.status.phase, ex.status.attempts) == ("Completed", 1)
    assert marks.read_text() == "side effect\n"  # the recorded step was not run again

    again = cli("retry", "fl")
    assert again.returncode == 2
    assert "only a Failed or Canceled Execution can be retried" in again.stderr


def test_cancel_a_parent_cancels_its_waiting_child(cli: CLI, state_dir: Path) -> None:
    out = _ok(cli("execute", "orch-cli-parent", "--name", "cp", "--import", FNS))
    assert "approve with: kontinue resume cp gate --state-dir" in out
    assert _status(state_dir, "cp-execute-1").status.phase == "Suspended"

    out = _ok(cli("cancel", "cp"))
    assert "canceled cp, cp-execute-1" in out
    for name in ("cp", "cp-execute-1"):
        assert _status(state_dir, name).status.phase == "Canceled"
    tree = _ok(cli("tree", "cp"))
    assert tree.splitlines()[0].startswith("cp (orch-cli-parent)  Canceled")
    assert "  cp-execute-1 (orch-cli-gate-child)  Canceled" in tree

    again = cli("cancel", "cp")
    assert again.returncode == 2
    assert "already Canceled" in again.stderr


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_cancel_reaches_a_child_running_in_a_worker_process(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.txt"
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("kontinue")),
            "--state-dir",
            str(state_dir),
            "worker",
            "--with-controller",
            "--import",
            FNS,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        name = "busy"
        args = ("-a", f"report={report}", "--name", name, "--no-wait")
        _ok(cli("execute", "orch-cli-busy-parent", *args))
        _wait(lambda: report.exists(), "the child to start")
        assert _status(state_dir, f"{name}-execute-1").status.phase == "Executing"

        out = _ok(cli("cancel", name))
        assert f"canceled {name}, {name}-execute-1" in out
        _wait(lambda: "ErrCanceled" in report.read_text(), "the child to see the cancel")
    finally:
        worker.terminate()
        worker.wait(10)
    lines = report.read_text().splitlines()
    assert lines[0] == "started"
    assert lines[1] == "cancelled=True reason=canceled"
    assert lines[2] == f'ErrCanceled: Execution "{name}-execute-1" was canceled'
    for each in (name, f"{name}-execute-1"):
        ex = _status(state_dir, each)
        assert ex.status.phase == "Canceled"
        assert ex.status.message != "still working"
