"""The engine's cost follows live work: finished Executions leave its cache, and what a
live parent still needs of a finished child is read on demand."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import Execution, ExecutionSpec, ExecutionStatus, ObjectMeta, Suspension
from kontinue.runtime import Registry
from kontinue.testing import Environment

from .conftest import run_until

REG = Registry()


@kontinue.function("hist-child", registry=REG)
def child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    if args.get("fail"):
        raise kontinue.Error("child failed on purpose", retryable=False)
    return int(kontinue.store(ktx, lambda: args["i"] * 2))


@kontinue.function("hist-parent", registry=REG)
def parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    specs = [
        kontinue.ChildExecutionOptions(function="hist-child", arguments={"i": i, "fail": i == 2})
        for i in range(int(args["n"]))
    ]
    return sum(kontinue.execute_parallel(ktx, specs))


@kontinue.function("hist-gated", registry=REG)
def gated(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.suspend(ktx)
    return "through"


def _history(env: Environment, count: int) -> None:
    with env.store.batch():
        for i in range(count):
            env.store.create(
                Execution(
                    metadata=ObjectMeta(name=f"old-{i}"),
                    spec=ExecutionSpec(function="hist-child", arguments={"i": i}),
                    status=ExecutionStatus(phase="Completed", result=i),
                )
            )


def test_finished_executions_never_enter_the_engines_cache(tmp_path: Path) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        _history(env, 500)
        env.start("hist-gated", name="live")
        run_until(env, lambda: env.get("live").status.phase == "Suspended")
        informer = env.engine.worker.informer

        cached = {e.metadata.name for e in informer.of(Execution)}
        assert cached == {"live"}
        assert informer.unfinished() == [informer.get(Execution, "default", "live")]


def test_a_parent_sees_how_its_finished_children_ended_and_they_leave_with_it(
    tmp_path: Path,
) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        env.start("hist-parent", {"n": 5}, name="fan")
        run_until(env, lambda: env.get("fan").terminal)
        informer = env.engine.worker.informer
        env.engine.step()

        fan = env.get("fan")
        assert fan.status.phase == "Failed"
        assert "child failed on purpose" in (fan.status.error.message if fan.status.error else "")
        assert informer.of(Execution) == []  # the parent and its children are all gone


@pytest.mark.parametrize("restart", [False, True])
def test_a_canceled_parent_still_cancels_its_live_children(tmp_path: Path, restart: bool) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        root = env.start("hist-gated", name="root")
        run_until(env, lambda: env.get("root").status.phase == "Suspended")
        # a live child of a parent that is already Canceled (as after a crash mid-cancel)
        kid = Execution(
            metadata=ObjectMeta(name="kid", owner_references=[root.owner_reference()]),
            spec=ExecutionSpec(function="hist-gated"),
        )
        if restart:
            env.engine.worker.informer._version = None  # as a freshly started engine: relist
        current = env.get("root")
        current.status.phase = "Canceled"
        env.store.update_status(current)
        env.store.create(kid)
        run_until(env, lambda: env.get("kid").status.phase == "Canceled")


@kontinue.function("hist-sleeper", registry=REG)
def sleeper(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(hours=1))
    return "awake"


def test_a_sleep_resumed_early_wakes_though_its_suspension_is_not_cached(
    tmp_path: Path,
) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        env.start("hist-sleeper", name="nap")
        run_until(env, lambda: env.get("nap").status.phase == "Suspended")
        for _ in range(3):  # passes after the first: the sleep's end is the only timer
            env.engine.step()
        informer = env.engine.worker.informer
        assert informer.of(Suspension) == []  # a parked sleep costs its Execution only

        env.resume("nap")
        run_until(env, lambda: env.get("nap").status.phase == "Completed")  # time frozen
