"""A pipeline killed mid-run resumes without re-running finished steps, like a Python function."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI, start_kontinue, stop, wait_for

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

    worker = ("worker", "--with-controller", "--lease-duration", "1s")
    first = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: done_steps() >= 3, what="three finished steps")
    finally:
        stop(first, signal.SIGKILL)
    finished_before = done_steps()

    second = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: store.get(Execution, "default", "m").terminal, 90, "the end")
    finally:
        stop(second)
    final = store.get(Execution, "default", "m")
    assert final.status.phase == "Completed", final.status.error
    assert final.status.resumptions >= 1
    runs = Counter(int(x) for x in marks.read_text().split())
    assert sorted(runs) == list(range(8))
    # a script whose step was recorded never runs again, and a script that was running when
    # the worker died was found again by its name, not started a second time
    assert all(count == 1 for count in runs.values()), runs
    assert finished_before >= 3


FANOUT = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: fanout}
params:
  type: object
  properties:
    marks: {type: string}
  required: [marks]
steps:
  - name: shard
    forEach: [a, b, c, d, e, f]
    maxParallel: 2
    script:
      image: alpine:3.20
      command: echo {{ item }} >> {{ params.marks }}; sleep 0.3
  - name: checks
    dag:
      - name: first
        script: {image: alpine:3.20, command: 'echo first >> {{ params.marks }}; sleep 0.3'}
      - name: second
        needs: [first]
        script: {image: alpine:3.20, command: 'echo second >> {{ params.marks }}'}
      - name: third
        needs: [first, second]
        script: {image: alpine:3.20, command: 'echo third >> {{ params.marks }}'}
"""


@pytest.mark.slow
def test_a_loop_and_a_dag_killed_midway_run_each_item_once(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    pipeline = tmp_path / "fanout.yaml"
    pipeline.write_text(FANOUT)
    submitted = cli("submit", str(pipeline), "-p", f"marks={marks}", "--name", "f", "--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    store = open_store(state_dir)

    def written() -> int:
        return len(marks.read_text().split()) if marks.exists() else 0

    worker = ("worker", "--with-controller", "--lease-duration", "1s")
    first = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: written() >= 3, what="three items written")
    finally:
        stop(first, signal.SIGKILL)

    second = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: store.get(Execution, "default", "f").terminal, 120, "the end")
    finally:
        stop(second)
    final = store.get(Execution, "default", "f")
    assert final.status.phase == "Completed", final.status.error
    lines = marks.read_text().split()
    runs = Counter(lines)
    assert sorted(runs) == sorted(["a", "b", "c", "d", "e", "f", "first", "second", "third"])
    assert all(count == 1 for count in runs.values()), runs
    assert lines.index("first") < lines.index("second") < lines.index("third")
