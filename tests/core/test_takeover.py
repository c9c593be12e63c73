"""A worker killed with SIGKILL mid-function: another takes over and nothing recorded re-runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.runtime import start_execution
from kontinue.store import open_store

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _worker(state_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kontinue",
            "--state-dir",
            str(state_dir),
            "worker",
            "--import",
            str(HERE / "fns_steps.py"),
            "--lease-duration",
            "1s",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_mid_function_takeover_runs_each_recorded_step_once(
    state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    store = open_store(state_dir)
    ex = start_execution(store, "twenty-steps", {"marks": str(marks), "delay": 0.1})
    name = ex.metadata.name

    first = _worker(state_dir)
    try:
        _wait(lambda: len(store.read_journal("default", name)) >= 6)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    recorded_before_kill = {e["name"] for e in store.read_journal("default", name)}
    assert store.get(Execution, "default", name).status.phase == "Executing"
    assert 6 <= len(recorded_before_kill) < 20

    second = _worker(state_dir)
    try:
        _wait(lambda: store.get(Execution, "default", name).terminal)
    finally:
        second.terminate()
        second.wait(10)

    final = store.get(Execution, "default", name)
    assert final.status.phase == "Completed", final.status.error
    assert final.status.resumptions == 1
    assert final.status.result == {"sum": sum(i * i for i in range(20)), "resumptions": 1}
    runs = Counter(int(line) for line in marks.read_text().split())
    assert set(runs) == set(range(20))
    for i in range(20):
        if f"store-{i + 1}" in recorded_before_kill:
            assert runs[i] == 1, f"step {i} was recorded before the kill but ran {runs[i]} times"
    # only the one step in flight at the kill may have run twice (at-least-once for it)
    assert sum(1 for count in runs.values() if count > 1) <= 1
    journal = store.read_journal("default", name)
    assert [e["name"] for e in journal] == [f"store-{i + 1}" for i in range(20)]
