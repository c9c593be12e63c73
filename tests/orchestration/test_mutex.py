"""ExecutionMutex: Executions sharing a key run one at a time, in order of creation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

import kontinue
from kontinue.runtime import Registry

from .conftest import EnvFactory, run_until, settle

REG = Registry()
_LOCK = threading.Lock()
ACTIVE: dict[str, int] = {}
MOST: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    ACTIVE.clear()
    MOST.clear()
    yield


def _enter(key: str) -> None:
    with _LOCK:
        ACTIVE[key] = ACTIVE.get(key, 0) + 1
        MOST[key] = max(MOST.get(key, 0), ACTIVE[key])


def _leave(key: str) -> None:
    with _LOCK:
        ACTIVE[key] -= 1


@kontinue.function("orch-deploy", registry=REG)
def deploy(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, str]:
    key = args["key"]
    _enter(key)  # counts functions of this key running right now, in any worker thread
    try:
        started = kontinue.store(ktx, lambda: ktx.now().isoformat())
        kontinue.store(ktx, lambda: "migrate")
    finally:
        _leave(key)
    kontinue.sleep(ktx, timedelta(minutes=10))  # parked, it still holds the mutex
    _enter(key)
    try:
        kontinue.store(ktx, lambda: "switch traffic")
        return {"start": started, "end": ktx.now().isoformat()}
    finally:
        _leave(key)


@pytest.mark.parametrize("count", [2, 5])
def test_executions_sharing_a_mutex_never_overlap_and_run_in_creation_order(
    make_env: EnvFactory, count: int
) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    key = "deploy/prod"
    # names sort the other way round from creation order, so order by name would show
    names = [f"deploy-{count - i}" for i in range(count)]
    for name in names:
        env.start("orch-deploy", {"key": key}, name=name, mutex=kontinue.ExecutionMutex(key=key))
    other = env.start("orch-deploy", {"key": "other"}, name="unrelated")

    run_until(env, lambda: env.get(names[0]).status.phase == "Suspended")
    settle(env)
    # the first holds the mutex, the rest wait and say so; another key is not held up
    assert env.get("unrelated").status.phase == "Suspended"
    for position, name in enumerate(names[1:], start=1):
        ex = env.get(name)
        assert ex.status.phase == "Pending"
        assert ex.status.message == (
            f"waiting for mutex {key} held by {names[0]} ({position} ahead in the queue)"
        )

    env.run_all()
    results = [env.get(n) for n in names]
    assert all(ex.status.phase == "Completed" for ex in results), [r.status for r in results]
    spans = [
        (
            datetime.fromisoformat(r.status.result["start"]),
            datetime.fromisoformat(r.status.result["end"]),
        )
        for r in results
    ]
    # one after the other, in creation order, never overlapping (each holds it for 10 minutes)
    assert spans == [
        (t0 + timedelta(minutes=10 * i), t0 + timedelta(minutes=10 * (i + 1))) for i in range(count)
    ]
    assert MOST[key] == 1
    assert env.get(other.metadata.name).status.finish_time == t0 + timedelta(minutes=10)
    # once it got the mutex, nothing says it is still waiting for it
    for ex in results:
        assert not (ex.status.message or "").startswith("waiting for mutex"), ex.status.message
