"""A worker told to stop hands its running Executions back at once, not after its lease."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.runtime import start_execution
from kontinue.store import open_store
from tests.conftest import start_kontinue, stop, wait_for

FNS = str(Path(__file__).parent / "fns_steps.py")


@pytest.mark.slow
def test_sigterm_hands_running_executions_back(state_dir: Path, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    store = open_store(state_dir)
    name = start_execution(store, "twenty-steps", {"marks": str(marks), "delay": 0.1}).metadata.name
    # a lease far longer than the test: only a hand-back lets the second worker in quickly
    worker = ("worker", "--import", FNS, "--lease-duration", "10m")
    first = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: len(store.read_journal("default", name)) >= 3, what="three steps")
    finally:
        stop(first, signal.SIGTERM)
    assert first.returncode == 0
    handed = store.get(Execution, "default", name)
    assert handed.status.phase == "Pending"
    assert handed.status.lease is None
    assert handed.status.message == "handed back by a worker that shut down"

    second = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: store.get(Execution, "default", name).terminal, 60, "the end")
    finally:
        stop(second)
    done = store.get(Execution, "default", name)
    assert done.status.phase == "Completed"
    assert done.status.resumptions == 1
    steps = [int(x) for x in marks.read_text().split()]
    assert sorted(set(steps)) == list(range(20))
    assert len(steps) - len(set(steps)) <= 1  # only the step in flight at the stop may repeat
