"""SIGKILL a worker in the middle of a 50-child fan-out: nothing is lost, no completed child reruns.

What the design guarantees, and so what is asserted:

* A child whose Execution reached `Completed` before the kill is never run again: its result
  is in the store, the restarted parent's replay reads it and never re-spawns it.
* A child that had not started (`Pending`) at the kill runs exactly once, on the new worker.
* A child that was `Executing` at the kill is at-least-once: the dead worker's lease
  expires, the new worker takes it over and runs it again (`resumptions == 1`). Its mark
  appears twice if the first run had written it before it was killed, else once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.runtime import start_execution
from kontinue.store import SQLiteStore, open_store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KONTINUE = str(Path(sys.executable).with_name("kontinue"))
N = 50


def _worker(state_dir: Path, log: Path, concurrency: int = 16) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            KONTINUE,
            "--state-dir",
            str(state_dir),
            "worker",
            "--with-controller",
            "--import",
            str(HERE / "fns_fanout.py"),
            "--lease-duration",
            "2s",
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _children(store: SQLiteStore, parent: str) -> dict[int, Execution]:
    kids = store.list(Execution, "default", {"kontinue.cloud/parent": parent})
    return {int(k.spec.arguments["i"]): k for k in kids}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.mark.slow
def test_sigkill_mid_fan_out_loses_nothing_and_reruns_no_completed_child(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    marks = tmp_path / "marks.txt"
    log = tmp_path / "workers.log"
    store = open_store(state_dir, create=True)
    parent = start_execution(
        store, "fanout-parent", {"n": N, "marks": str(marks), "work": 1.0}, name="fan"
    ).metadata.name

    # Children start while the parent still spawns the others. The kill must land after
    # every child exists and some have completed, and before all have: the first worker
    # runs at most 6 functions at a time (50 children of 1 s take at least 8 s), a window
    # wide enough for the 50 spawns even on a loaded machine.
    first = _worker(state_dir, log, concurrency=6)
    try:

        def spawned_and_some_done() -> bool:
            kids = _children(store, parent)
            done = sum(k.status.phase == "Completed" for k in kids.values())
            return len(kids) == N and done >= 10

        _wait(spawned_and_some_done, "every child to exist and 10 to complete", timeout=180)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        _stop(first)

    # the dead worker writes nothing more: this snapshot is exactly the state at the kill
    at_kill = {i: k.status.phase for i, k in _children(store, parent).items()}
    completed_before = {i for i, p in at_kill.items() if p == "Completed"}
    in_flight = {i for i, p in at_kill.items() if p == "Executing"}
    not_started = set(range(N)) - completed_before - in_flight
    assert len(at_kill) == N, "the parent had spawned every child before the kill"
    assert 10 <= len(completed_before) < N
    assert store.get(Execution, "default", parent).status.phase != "Completed"
    assert all(at_kill[i] == "Pending" for i in not_started if i in at_kill)

    second = _worker(state_dir, log)
    try:
        _wait(
            lambda: store.get(Execution, "default", parent).terminal,
            "the parent to finish",
            timeout=180,
        )
    finally:
        _stop(second)

    final = store.get(Execution, "default", parent)
    assert final.status.phase == "Completed", (final.status.error, log.read_text()[-2000:])
    assert final.status.result == [i * 10 for i in range(N)]

    kids = _children(store, parent)
    assert sorted(kids) == list(range(N))  # the replayed parent spawned no extra child
    assert all(k.status.phase == "Completed" for k in kids.values())
    runs = Counter(int(line) for line in marks.read_text().split())
    print(
        f"\nkill test: {len(completed_before)} completed, {len(in_flight)} executing, "
        f"{len(not_started)} pending at the kill; marks per child: {dict(sorted(runs.items()))}"
    )
    for i in completed_before:
        assert runs[i] == 1, f"child {i} had completed before the kill but ran {runs[i]} times"
        assert kids[i].status.resumptions == 0
    for i in not_started:
        assert runs[i] == 1, f"child {i} had not started at the kill but ran {runs[i]} times"
    for i in in_flight:
        assert 1 <= runs[i] <= 2, f"child {i} was running at the kill and ran {runs[i]} times"
        assert kids[i].status.resumptions == 1, f"child {i} was not taken over"
    assert set(runs) == set(range(N))
    assert sum(runs.values()) <= N + len(in_flight)
