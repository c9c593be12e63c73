"""The controller in parts: each pass looks at what changed or fell due, not at everything
parked; due times sit in a heap; parked Executions are kept packed in the cache."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import kontinue
from kontinue.api import Execution, ExecutionSpec, ObjectMeta
from kontinue.runtime import Registry
from kontinue.runtime._timers import Timers
from kontinue.testing import Environment

from .conftest import run_until

REG = Registry()
PARKED = 200


@kontinue.function("parts-sleeper", registry=REG)
def sleeper(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(hours=int(args.get("hours", 1))))
    return "awake"


@kontinue.function("parts-quick", registry=REG)
def quick(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    return int(kontinue.store(ktx, lambda: 7))


def _park(env: Environment, count: int) -> None:
    with env.store.batch():
        for i in range(count):
            env.store.create(
                Execution(
                    metadata=ObjectMeta(name=f"nap-{i:04d}"),
                    spec=ExecutionSpec(function="parts-sleeper", arguments={"hours": 1 + i % 3}),
                )
            )
    informer = env.engine.worker.informer
    run_until(
        env,
        lambda: (
            informer.count_unfinished() == count
            and not informer.runnable()
            and env.engine.worker.busy == 0
        ),
        timeout=600,
    )


def test_a_pass_looks_at_what_changed_not_at_every_parked_execution(tmp_path: Path) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        _park(env, PARKED)
        controller = env.engine.controller
        for _ in range(3):
            env.engine.step()
        before = controller.looked_at
        for _ in range(5):  # nothing changed, nothing is due: nothing is looked at
            assert env.engine.step() == 0
        assert controller.looked_at == before

        ex = env.execute("parts-quick", name="quick")
        assert ex.status.phase == "Completed"
        looked = controller.looked_at - before
        # the quick one through its phases, not the 200 sleepers once per change
        assert 0 < looked < 20, looked

        # the earliest sleeps end first, by their due times in the heap
        assert controller.next_timer is not None
        env.advance(timedelta(hours=1, minutes=1))
        awake = [e for e in env.store.list(Execution) if e.status.phase == "Completed"]
        assert len(awake) == 1 + len(range(0, PARKED, 3))
        assert all((e.spec.arguments or {}).get("hours", 0) in (0, 1) for e in awake)


def test_parked_executions_are_kept_packed_and_read_back_whole(tmp_path: Path) -> None:
    with Environment(tmp_path / "state", registry=REG) as env:
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            _park(env, PARKED)
            for _ in range(3):
                env.engine.step()
            gc.collect()
            kept = (tracemalloc.get_traced_memory()[0] - base) / PARKED
        finally:
            tracemalloc.stop()
        # a model of a parked Execution takes ~6 KiB; packed it takes well under half that
        assert kept < 3 * 1024, f"{kept:.0f} bytes kept per parked Execution"

        informer = env.engine.worker.informer
        cached = informer.get(Execution, "default", "nap-0007")
        assert cached == env.get("nap-0007")  # read back as it is stored
        assert cached is not informer.get(Execution, "default", "nap-0007")  # a fresh copy
        assert {e.metadata.name for e in informer.unfinished()} == {
            f"nap-{i:04d}" for i in range(PARKED)
        }


def test_timers_keep_one_due_time_per_key_and_skip_stale_entries() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    timers = Timers()
    timers.set(("ns", "a"), t0 + timedelta(seconds=30))
    timers.set(("ns", "b"), t0 + timedelta(seconds=10))
    timers.set(("ns", "b"), t0 + timedelta(seconds=40))  # moved later: the old entry is stale
    timers.set(("ns", "c"), t0 + timedelta(seconds=20))
    timers.set(("ns", "c"), None)  # nothing due for it any more
    assert timers.next() == t0 + timedelta(seconds=30)
    assert timers.pop_due(t0 + timedelta(seconds=35)) == [("ns", "a")]
    assert timers.pop_due(t0 + timedelta(seconds=35)) == []
    assert timers.pop_due(t0 + timedelta(seconds=40)) == [("ns", "b")]
    assert timers.next() is None and len(timers) == 0
    for i in range(10_000):  # re-set over and over: the heap does not grow with it
        timers.set(("ns", "x"), t0 + timedelta(seconds=i % 7))
    assert len(timers._heap) < 200
