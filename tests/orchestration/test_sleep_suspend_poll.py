"""Waiting without a worker: sleep, suspend and poll_until park the Execution and resume it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

import kontinue
from kontinue.api import Lease, Suspension
from kontinue.runtime import Registry, child_resource_name

from .conftest import EnvFactory, run_until, settle

REG = Registry()
RUNS: Counter[str] = Counter()
CHECKS: list[datetime] = []
_LOCK = threading.Lock()


def ran(key: str) -> None:
    with _LOCK:
        RUNS[key] += 1


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RUNS.clear()
    CHECKS.clear()
    yield


@kontinue.function("orch-hour-nap", registry=REG)
def hour_nap(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    ran("hour-nap")
    before = kontinue.store(ktx, lambda: ktx.now().isoformat())
    kontinue.sleep_named(
        ktx,
        kontinue.SleepOptions(name="nap", duration=timedelta(hours=1), display_name="Nap"),
    )
    after = kontinue.store(ktx, lambda: ktx.now().isoformat())
    return {"before": before, "after": after}


@kontinue.function("orch-approval", registry=REG)
def approval(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.store(ktx, lambda: ran("before-gate"))
    kontinue.suspend(
        ktx, kontinue.SuspendOptions(name="approve-prod", display_name="Approve production")
    )
    kontinue.store(ktx, lambda: ran("after-gate"))
    return "deployed"


@kontinue.function("orch-poller", registry=REG)
def poller(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    def ready() -> bool:
        with _LOCK:
            CHECKS.append(ktx.now())
            return len(CHECKS) >= 3

    kontinue.poll_until(ktx, ready, timedelta(seconds=10))
    # park once more after the poll, so the poll step is replayed from the journal
    kontinue.sleep(ktx, timedelta(minutes=1))
    return len(CHECKS)


def test_sleep_parks_without_holding_a_worker_and_wakes_on_time(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    env.start("orch-hour-nap", name="nap")
    run_until(env, lambda: env.get("nap").status.phase == "Suspended")
    settle(env)

    ex = env.get("nap")
    assert env.engine.worker.busy == 0  # no thread is held for the sleeping Execution
    assert ex.status.lease is None
    assert ex.status.waiting_on is not None
    assert ex.status.waiting_on.kind == "suspension"
    sus = env.store.get(Suspension, "default", child_resource_name("nap", "nap"))
    assert (sus.spec.type, sus.spec.resume_at, sus.spec.display_name) == (
        "Sleep",
        t0 + timedelta(hours=1),
        "Nap",
    )
    assert sus.metadata.owner_references[0].uid == ex.metadata.uid

    env.advance(timedelta(minutes=59))
    assert env.get("nap").status.phase == "Suspended"  # not due yet
    env.advance(timedelta(minutes=1))
    ex = env.get("nap")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == {
        "before": t0.isoformat(),
        "after": (t0 + timedelta(hours=1)).isoformat(),
    }
    assert RUNS["hour-nap"] == 2
    assert env.store.get(Suspension, "default", sus.metadata.name).status.resolved_by == "timer"


def test_a_sleep_resumed_early_continues_at_once(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    env.start("orch-hour-nap", name="nap")
    run_until(env, lambda: env.get("nap").status.phase == "Suspended")
    assert env.resume("nap") == ["nap-nap"]
    ex = env.run("nap", skip_time=False)  # no virtual time may pass
    assert ex.status.phase == "Completed", ex.status.error
    assert env.clock.now() == t0
    assert ex.status.result == {"before": t0.isoformat(), "after": t0.isoformat()}
    (entry,) = [e for e in env.journal("nap") if e["kind"] == "sleep"]
    assert entry["resolvedBy"] == "kontinue resume"


def test_after_a_crash_a_sleep_does_not_start_over(make_env: EnvFactory) -> None:
    first = make_env(REG)
    t0 = first.clock.now()
    first.start("orch-hour-nap", name="nap")
    run_until(first, lambda: first.get("nap").status.phase == "Suspended")
    settle(first)

    # The worker was killed right after it created the sleep's Suspension, before it wrote
    # the park: the Execution is left Executing under a lease nobody renews (what `kill -9`
    # leaves behind). The Suspension with its resumeAt is already stored.
    def crashed(ex: Any) -> None:
        ex.status.phase = "Executing"
        ex.status.waiting_on = None
        ex.status.lease = Lease(
            holder="dead-worker",
            acquire_time=t0,
            renew_time=t0,
            expire_time=t0 + timedelta(seconds=10),
        )

    ex = first.get("nap")
    crashed(ex)
    first.store.update_status(ex)
    first.close()

    second = make_env(REG, start=t0 + timedelta(minutes=45))  # a new process, later
    settle(second)
    ex = second.get("nap")
    assert ex.status.phase == "Suspended", "the new worker took over and parked on the same sleep"
    assert ex.status.resumptions == 1
    assert ex.status.waiting_on is not None
    assert ex.status.waiting_on.until == t0 + timedelta(hours=1)  # resumeAt kept, not now + 1h
    ex = second.run("nap")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.finish_time == t0 + timedelta(hours=1)
    assert ex.status.result["after"] == (t0 + timedelta(hours=1)).isoformat()


def test_suspend_waits_for_resume_then_continues(make_env: EnvFactory) -> None:
    env = make_env(REG)
    ex = env.execute("orch-approval", name="gate")
    assert ex.status.phase == "Suspended"  # env.run stopped at the manual gate
    assert ex.status.message == "waiting for approval: Approve production"
    assert env.engine.worker.busy == 0
    sus = env.store.get(Suspension, "default", "gate-approve-prod")
    assert (sus.spec.type, sus.spec.resume_at, sus.status.resolved) == ("Suspend", None, False)

    env.advance(timedelta(days=30))  # time alone never opens a gate
    assert env.get("gate").status.phase == "Suspended"
    assert dict(RUNS) == {"before-gate": 1}

    assert env.resume("gate") == ["gate-approve-prod"]
    ex = env.run("gate")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == "deployed"
    assert ex.status.message is None  # the waiting message is cleared
    assert dict(RUNS) == {"before-gate": 1, "after-gate": 1}
    resolved = env.store.get(Suspension, "default", "gate-approve-prod")
    assert resolved.status.resolved and resolved.status.resolved_by == "kontinue resume"


def test_poll_until_rechecks_at_the_interval_and_records_success(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    env.start("orch-poller", name="poll")
    run_until(env, lambda: env.get("poll").status.phase == "Suspended")
    settle(env)
    ex = env.get("poll")
    assert ex.status.waiting_on is not None and ex.status.waiting_on.kind == "poll"
    assert ex.status.waiting_on.until == t0 + timedelta(seconds=10)
    assert env.engine.worker.busy == 0  # nothing is held between checks

    ex = env.run("poll")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == 3  # the replay after the sleep did not call the condition again
    assert list(CHECKS) == [t0, t0 + timedelta(seconds=10), t0 + timedelta(seconds=20)]
    kinds = [(e["kind"], e["name"]) for e in env.journal("poll")]
    assert kinds == [("poll", "poll-1"), ("sleep", "sleep-1")]
    assert ex.status.finish_time == t0 + timedelta(seconds=20) + timedelta(minutes=1)
