"""Skipping an Execution: it ends `Skipped`, what it started is canceled, its parent goes on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import kontinue
from kontinue.api import Execution
from kontinue.dsl.submit import compile_submission, start_pipeline
from kontinue.runtime import OperationError, skip_execution
from kontinue.testing import Environment

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: gated}
steps:
  - name: both
    parallel:
      - name: quick
        sleep: 1s
      - name: gate
        suspend: {displayName: Nobody will approve this}
  - name: after
    sleep: 1s
"""


@kontinue.function("skip-test-sleeper")
def sleeper(ktx: kontinue.ExecutionContext, args: dict) -> str:
    kontinue.sleep(ktx, timedelta(hours=5))
    return "woke"


@kontinue.function("skip-test-parent")
def parent(ktx: kontinue.ExecutionContext, args: dict) -> dict:
    got = kontinue.execute(ktx, "skip-test-sleeper", {}, opts=kontinue.ExecuteOptions(name="nap"))
    return {"child gave": got}


def test_a_skipped_child_lets_its_parent_finish_without_a_result() -> None:
    with Environment() as env:
        env.start("skip-test-parent", name="p")
        env.advance(timedelta(seconds=1))
        child = env.store.list(Execution, "default", {"kontinue.cloud/parent": "p"})[0]
        assert child.status.phase == "Suspended"
        ended = skip_execution(env.store, "default", child.metadata.name, clock=env.clock)
        assert ended == [child.metadata.name]
        done = env.run("p")
        assert done.status.phase == "Completed"
        assert done.status.result == {"child gave": None}
        skipped = env.get(child.metadata.name)
        assert skipped.status.phase == "Skipped" and skipped.terminal
        assert skipped.status.message == "skipped by request"
        with pytest.raises(OperationError, match="already Skipped"):
            skip_execution(env.store, "default", child.metadata.name)
        with pytest.raises(OperationError, match="already Completed"):
            skip_execution(env.store, "default", "p")


def test_skipping_a_parent_cancels_what_it_started() -> None:
    with Environment() as env:
        env.start("skip-test-parent", name="p2")
        env.advance(timedelta(seconds=1))
        ended = skip_execution(env.store, "default", "p2", clock=env.clock)
        child = env.store.list(Execution, "default", {"kontinue.cloud/parent": "p2"})[0]
        assert ended == ["p2", child.metadata.name]
        assert env.get("p2").status.phase == "Skipped"
        assert child.status.phase == "Canceled"
        assert "was skipped" in (child.status.message or "")
        env.advance(timedelta(hours=6))  # nothing wakes them again
        assert env.get("p2").status.phase == "Skipped"


def test_a_skipped_pipeline_branch_is_recorded_and_the_pipeline_goes_on(tmp_path: Path) -> None:
    with Environment() as env:
        submission = compile_submission(tmp_path / "gated.yaml", {}, text=PIPELINE)
        ex = start_pipeline(env.store, submission, name="g")
        waiting = env.run(ex.metadata.name)
        assert waiting.status.phase == "Suspended"
        skip_execution(env.store, "default", "g-gate", clock=env.clock)
        done = env.run("g")
        assert done.status.phase == "Completed", done.status.error
        steps = done.status.result["steps"]
        assert "gate" in steps and steps["gate"] is None
        assert "after" in steps
        outcome = [e for e in env.journal("g") if e["kind"] == "wait" and e["child"] == "g-gate"]
        assert outcome and outcome[0].get("skipped") is True
