"""Mutexes and function concurrency limits on virtual time: release on cancel and delete,
slots first come first served, a mutex from ExecuteOptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import Execution, Mutex
from kontinue.runtime import Registry
from kontinue.testing import Environment

REG = Registry()
START = datetime(2030, 1, 1, tzinfo=UTC)


@kontinue.function("cc-hold", registry=REG)
def hold(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(minutes=10))
    return ktx.now().isoformat()


@kontinue.function("cc-limited", registry=REG, concurrency=2)
def limited(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(minutes=10))
    return ktx.now().isoformat()


@kontinue.function("cc-parent", registry=REG)
def parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[str]:
    return kontinue.execute_parallel(
        ktx,
        [
            kontinue.ChildExecutionOptions(
                function="cc-hold",
                arguments={},
                options=kontinue.ExecuteOptions(mutex=kontinue.ExecutionMutex(name="db")),
            )
            for _ in range(3)
        ],
    )


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path / "state", registry=REG, start=START) as e:
        yield e


def phase(env: Environment, name: str) -> str:
    return env.get(name).status.phase


def test_a_canceled_holder_releases_the_mutex_to_the_next_in_line(env: Environment) -> None:
    for name in ("a", "b", "c"):
        env.start("cc-hold", name=name, mutex=kontinue.ExecutionMutex(name="prod"))
    env.advance(timedelta(minutes=1))
    assert [phase(env, n) for n in "abc"] == ["Suspended", "Pending", "Pending"]
    assert env.get("c").status.message == "waiting for mutex prod held by a (2 ahead in the queue)"
    env.cancel("a")
    env.advance(timedelta(seconds=1))
    assert [phase(env, n) for n in "abc"] == ["Canceled", "Suspended", "Pending"]
    assert env.get("c").status.message == "waiting for mutex prod held by b (1 ahead in the queue)"


def test_a_deleted_holder_releases_the_mutex(env: Environment) -> None:
    for name in ("a", "b"):
        env.start("cc-hold", name=name, mutex=kontinue.ExecutionMutex(name="prod"))
    env.advance(timedelta(minutes=1))
    assert phase(env, "b") == "Pending"
    env.store.delete(Execution, "default", "a")
    env.advance(timedelta(seconds=1))
    assert phase(env, "b") == "Suspended"
    (mutex,) = env.store.list(Mutex, "default")
    assert mutex.status.holder == "b"


def test_a_function_limit_runs_at_most_that_many_in_creation_order(env: Environment) -> None:
    names = [f"job-{i}" for i in range(5)]
    for name in names:
        env.start("cc-limited", name=name)
    env.advance(timedelta(minutes=1))
    assert [phase(env, n) for n in names] == ["Suspended"] * 2 + ["Pending"] * 3
    message = env.get("job-4").status.message or ""
    assert message.startswith("waiting for a free slot of function cc-limited")
    assert "concurrency limit 2" in message and "job-0, job-1" in message
    env.advance(timedelta(hours=1))
    finished = {n: env.get(n).status.finish_time for n in names}
    assert all(env.get(n).status.phase == "Completed" for n in names)
    # two at a time, ten minutes each, in creation order: 10, 10, 20, 20, 30 minutes
    assert [finished[n] - START for n in names] == [
        timedelta(minutes=m) for m in (10, 10, 20, 20, 30)
    ]
    # the slots are shown on the semaphore; nobody holds them once all ended
    (semaphore,) = env.store.list(Mutex, "default")
    assert semaphore.spec.limit == 2 and semaphore.status.holders == []


def test_children_take_a_mutex_from_execute_options(env: Environment) -> None:
    env.start("cc-parent", name="p")
    env.advance(timedelta(minutes=5))
    kids = [e for e in env.store.list(Execution, "default") if e.metadata.name != "p"]
    assert sorted(e.status.phase for e in kids) == ["Pending", "Pending", "Suspended"]
    ex = env.run("p")
    assert ex.status.phase == "Completed"
    ends = sorted(datetime.fromisoformat(t) for t in ex.status.result)
    assert [t - START for t in ends] == [timedelta(minutes=m) for m in (10, 20, 30)]
