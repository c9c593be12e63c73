"""A pipeline killed mid-run resumes without re-running finished steps, like a Python function."""

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
from kontinue.store import open_store
from tests.conftest import CLI, ROOT

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: marks}
params:
  type: object
  properties:
    marks: {type: string}
  required: [marks]
steps:
%s
"""
STEP = """\
  - name: step-%d
    script:
      image: alpine:3.20
      command: echo %d >> {{ params.marks }}; sleep 0.3
"""


def _worker(state_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kontinue",
            "--state-dir",
            str(state_dir),
            "worker",
            "--with-controller",
            "--lease-duration",
            "1s",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.slow
def test_killed_pipeline_resumes_without_rerunning_steps(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    pipeline = tmp_path / "marks.yaml"
    pipeline.write_text(PIPELINE % "".join(STEP % (i, i) for i in range(8)))
    submitted = cli("submit", str(pipeline), "-p", f"marks={marks}", "--name", "m", "--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    store = open_store(state_dir)

    def done_steps() -> int:
        return sum(1 for e in store.read_journal("default", "m") if e["kind"] == "script")

    first = _worker(state_dir)
    deadline = time.monotonic() + 60
    while done_steps() < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    finished_before = done_steps()

    second = _worker(state_dir)
    try:
        deadline = time.monotonic() + 90
        while not store.get(Execution, "default", "m").terminal:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(10)
    final = store.get(Execution, "default", "m")
    assert final.status.phase == "Completed", final.status.error
    assert final.status.resumptions >= 1
    runs = Counter(int(x) for x in marks.read_text().split())
    assert sorted(runs) == list(range(8))
    # a script whose step was recorded never runs again, and a script that was running when
    # the worker died was found again by its name, not started a second time
    assert all(count == 1 for count in runs.values()), runs
    assert finished_before >= 3
