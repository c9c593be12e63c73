"""SIGKILL a worker while 32 Executions step at once: no step whose call returned is lost.

With group commit several Executions' journal rows share one transaction and one fsync; a
call returns only once its own row is durable. Each function appends a line to a report
file right after each `kontinue.store` call returns; after the kill, every reported step
must be in its Execution's journal (and nothing is in a journal twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from kontinue.runtime import start_execution
from kontinue.store import open_store

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KONTINUE = str(Path(sys.executable).with_name("kontinue"))
EXECUTIONS = 32
STEPS = 400


@pytest.mark.slow
def test_sigkill_while_32_executions_step_loses_no_returned_step(tmp_path: Path) -> None:
    state, report = tmp_path / "state", tmp_path / "report.txt"
    store = open_store(state, create=True)
    for i in range(EXECUTIONS):
        args = {"id": f"ex-{i}", "n": STEPS, "report": str(report)}
        start_execution(store, "crash-stepper", args, name=f"ex-{i}")
    worker = subprocess.Popen(
        [
            KONTINUE,
            "--state-dir",
            str(state),
            "worker",
            "--import",
            str(HERE / "fns_steps_crash.py"),
            "--concurrency",
            str(EXECUTIONS),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        # kill once most Executions are stepping at once, well before any finishes
        while True:
            lines = report.read_text().splitlines() if report.exists() else []
            running = {line.split(":")[0] for line in lines}
            if len(running) >= EXECUTIONS * 3 // 4 and len(lines) >= EXECUTIONS * 20:
                break
            assert time.monotonic() < deadline, f"only {len(lines)} steps reported"
            assert worker.poll() is None, "the worker exited"
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)

    reported = report.read_text().splitlines()
    journaled: Counter[str] = Counter()
    for i in range(EXECUTIONS):
        for entry in store.read_journal("default", f"ex-{i}"):
            journaled[str(entry["result"])] += 1
    store.close()

    lost = [step for step in reported if step not in journaled]
    assert not lost, f"{len(lost)} of {len(reported)} returned steps were lost: {lost[:5]}"
    assert max(journaled.values()) == 1
    assert len(journaled) < EXECUTIONS * STEPS, "the kill came after everything finished"
