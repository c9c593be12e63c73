"""TTL clean-up on virtual time: delete, archive then delete, defaults, children, retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import ArchivedExecution, Execution, ExecutionTTL, Suspension
from kontinue.runtime import Registry
from kontinue.store import NotFoundError
from kontinue.testing import Environment

REG = Registry()
START = datetime(2030, 1, 1, tzinfo=UTC)
FAIL = {"n": 0}


@kontinue.function("ttl-child", registry=REG)
def child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    return kontinue.store(ktx, lambda: args["i"] * 2)


@kontinue.function("ttl-parent", registry=REG)
def parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[int]:
    kontinue.sleep(ktx, timedelta(minutes=1))
    return kontinue.execute_parallel(
        ktx,
        [
            kontinue.ChildExecutionOptions(function="ttl-child", arguments={"i": i})
            for i in range(3)
        ],
    )


@kontinue.function("ttl-default", registry=REG, ttl=ExecutionTTL(delete_after=timedelta(hours=2)))
def with_default(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    return "ok"


@kontinue.function("ttl-flaky", registry=REG)
def flaky(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    if FAIL["n"] > 0:
        FAIL["n"] -= 1
        raise kontinue.new_non_retryable_error("not yet")
    return "ok"


@kontinue.function("ttl-gate", registry=REG)
def gate(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.suspend(ktx, kontinue.SuspendOptions(display_name="wait"))
    return "resumed"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path / "state", registry=REG, start=START) as e:
        yield e


def exists(env: Environment, cls: type[Any], name: str) -> bool:
    try:
        env.store.get(cls, "default", name)
        return True
    except NotFoundError:
        return False


def start(env: Environment, function: str, ttl: ExecutionTTL | None, name: str) -> Execution:
    from kontinue.runtime import start_execution

    return start_execution(env.store, function, {}, name=name, ttl=ttl)


def test_delete_after_removes_the_whole_tree_once_its_time_comes(env: Environment) -> None:
    start(env, "ttl-parent", ExecutionTTL(delete_after=timedelta(hours=1)), "tree")
    ex = env.run("tree")
    assert ex.status.phase == "Completed"
    finished = ex.status.finish_time
    assert finished is not None
    assert len(env.store.list(Execution, "default")) == 4
    env.advance(timedelta(minutes=59))
    assert exists(env, Execution, "tree")
    env.advance(timedelta(minutes=2))
    assert env.store.list(Execution, "default") == []
    assert env.store.list(Suspension, "default") == []
    assert env.journal("tree") == []


def test_archive_after_keeps_the_tree_compactly_then_delete_after_removes_it(
    env: Environment,
) -> None:
    ttl = ExecutionTTL(archive_after=timedelta(hours=1), delete_after=timedelta(days=7))
    start(env, "ttl-parent", ttl, "tree")
    ex = env.run("tree")
    env.advance(timedelta(hours=1, minutes=1))
    assert env.store.list(Execution, "default") == []
    archive = env.store.get(ArchivedExecution, "default", "tree")
    assert archive.spec.phase == "Completed"
    assert archive.spec.function == "ttl-parent"
    assert archive.spec.result == [0, 2, 4]
    assert archive.spec.executions == 4 and archive.spec.suspensions == 1
    assert archive.spec.finish_time == ex.status.finish_time
    tree = archive.tree()
    names = {e["metadata"]["name"] for e in tree["executions"]}
    assert "tree" in names and len(names) == 4
    assert tree["journals"]["tree"], "the root's journal is kept"
    assert archive.spec.delete_at == ex.status.finish_time + timedelta(days=7)  # type: ignore[operator]
    env.advance(timedelta(days=6))
    assert exists(env, ArchivedExecution, "tree")
    env.advance(timedelta(days=1))
    assert not exists(env, ArchivedExecution, "tree")


def test_the_functions_default_applies_and_the_spec_wins(env: Environment) -> None:
    start(env, "ttl-default", None, "by-default")
    start(env, "ttl-default", ExecutionTTL(delete_after=timedelta(days=1)), "by-spec")
    env.run_all()
    env.advance(timedelta(hours=3))
    assert not exists(env, Execution, "by-default")
    assert exists(env, Execution, "by-spec")
    env.advance(timedelta(days=1))
    assert not exists(env, Execution, "by-spec")


def test_unfinished_and_ttl_less_executions_are_never_touched(env: Environment) -> None:
    start(env, "ttl-parent", None, "no-ttl")
    env.run("no-ttl")
    start(env, "ttl-gate", ExecutionTTL(delete_after=timedelta(minutes=1)), "waiting")
    assert env.run("waiting").status.phase == "Suspended"
    env.advance(timedelta(days=30))
    assert exists(env, Execution, "no-ttl")
    assert exists(env, Execution, "waiting")  # the TTL counts from the finish only
    env.resume("waiting")
    env.run("waiting")
    env.advance(timedelta(minutes=2))
    assert not exists(env, Execution, "waiting")


def test_a_retried_execution_is_cleaned_after_its_last_finish(env: Environment) -> None:
    FAIL["n"] = 1
    start(env, "ttl-flaky", ExecutionTTL(delete_after=timedelta(hours=1)), "flaky")
    assert env.run("flaky").status.phase == "Failed"
    env.advance(timedelta(minutes=50))
    env.retry("flaky")
    assert env.run("flaky").status.phase == "Completed"
    env.advance(timedelta(minutes=20))  # an hour after the first finish, not the last
    assert exists(env, Execution, "flaky")
    env.advance(timedelta(minutes=45))
    assert not exists(env, Execution, "flaky")
