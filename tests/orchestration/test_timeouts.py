"""Timeouts: per attempt (retryable, running or parked) and overall (not retryable)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import Execution
from kontinue.runtime import (
    Controller,
    Registry,
    VirtualClock,
    Worker,
    start_execution,
    step_runtime,
)
from kontinue.store import open_store

from .conftest import EnvFactory, children, run_until

REG = Registry()
RUNS: Counter[str] = Counter()
SEEN: list[dict[str, Any]] = []
_LOCK = threading.Lock()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RUNS.clear()
    SEEN.clear()
    yield


def _work_for(ktx: kontinue.ExecutionContext, delta: timedelta) -> None:
    """Let `delta` of virtual time pass while the function runs (slow work, no SDK call)."""
    clock = step_runtime(ktx).clock  # the engine's clock: a test reaches past the SDK
    assert isinstance(clock, VirtualClock)
    clock.advance(delta)


@kontinue.function("orch-slow-first-attempt", registry=REG)
def slow_first_attempt(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    with _LOCK:
        RUNS["attempt"] += 1
    kontinue.store(ktx, lambda: "before")
    if ktx.attempts() == 0:
        _work_for(ktx, timedelta(minutes=args["work_minutes"]))
        SEEN.append({"cancelled": ktx.context().cancelled(), "reason": ktx.context().reason})
    kontinue.store(ktx, lambda: "after")  # the first SDK call past the deadline raises
    return ktx.attempts()


@kontinue.function("orch-long-sleep", registry=REG)
def long_sleep(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    with _LOCK:
        RUNS["long-sleep"] += 1
    kontinue.sleep(ktx, timedelta(hours=1))
    return "woke"


@kontinue.function("orch-sleepy-parent", registry=REG)
def sleepy_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    result: str = kontinue.execute(ktx, "orch-long-sleep")
    return result


@kontinue.function(
    "orch-long-sleep-default-timeouts",
    registry=REG,
    retry=kontinue.RetryOptions(retries=5, backoff=timedelta(minutes=1)),
    timeout=kontinue.TimeoutOptions(overall=timedelta(minutes=30)),
)
def long_sleep_default(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(hours=1))
    return "woke"


def test_attempt_timeout_while_running_fails_the_attempt_and_retries(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    retry = kontinue.RetryOptions(retries=1, backoff=timedelta(minutes=1))
    timeout = kontinue.TimeoutOptions(attempt=timedelta(minutes=10))
    env.start(
        "orch-slow-first-attempt", {"work_minutes": 15}, name="t", retry=retry, timeout=timeout
    )
    run_until(env, lambda: env.get("t").status.phase == "Backoff")
    ex = env.get("t")
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Timeout", True)
    assert "attempt 1" in ex.status.error.message and "attempt timeout" in ex.status.error.message
    assert ex.status.backoff_until == t0 + timedelta(minutes=16)
    assert SEEN == [{"cancelled": True, "reason": "deadline exceeded"}]  # ktx.context() knew

    ex = env.run("t")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == 1
    assert ex.status.attempts == 1
    assert RUNS["attempt"] == 2
    # the failed step was tried again in the new attempt; the recorded one was kept
    journal = env.journal("t")
    assert [(e["name"], e["attempt"]) for e in journal] == [("store-1", 0), ("store-2", 1)]


def test_attempt_timeout_while_parked_is_enforced_by_the_controller(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    timeout = kontinue.TimeoutOptions(attempt=timedelta(minutes=10))
    ex = env.execute("orch-sleepy-parent", name="p", timeout=timeout)
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Timeout", True)
    assert "attempt timeout" in ex.status.error.message
    assert ex.status.finish_time == t0 + timedelta(minutes=10)
    # the attempt's child is canceled with it
    (child,) = children(env, "p")
    assert child.status.phase == "Canceled"


def test_attempt_timeout_while_parked_is_retried(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    retry = kontinue.RetryOptions(retries=1, backoff=timedelta(minutes=5))
    timeout = kontinue.TimeoutOptions(attempt=timedelta(minutes=10))
    env.start("orch-long-sleep", name="s", retry=retry, timeout=timeout)
    run_until(env, lambda: env.get("s").status.phase == "Suspended")
    env.advance(timedelta(minutes=10))
    ex = env.get("s")
    assert ex.status.phase == "Backoff"
    assert ex.status.error is not None and ex.status.error.kind == "Timeout"
    # the second attempt re-parks on the same sleep; it too runs out of time
    ex = env.run("s")
    assert ex.status.phase == "Failed"
    assert ex.status.attempts == 1
    assert ex.status.finish_time == t0 + timedelta(minutes=25)


def test_overall_timeout_fails_without_retrying(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    retry = kontinue.RetryOptions(retries=3, backoff=timedelta(seconds=1))
    timeout = kontinue.TimeoutOptions(overall=timedelta(minutes=30))
    # parked: the controller ends it
    ex = env.execute("orch-long-sleep", name="parked", retry=retry, timeout=timeout)
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Timeout", False)
    assert "overall timeout" in ex.status.error.message
    assert ex.status.attempts == 0
    assert ex.status.finish_time == t0 + timedelta(minutes=30)

    # running: the next SDK call raises ErrOverallTimeout, and it is not retried
    ex = env.execute(
        "orch-slow-first-attempt",
        {"work_minutes": 45},
        name="running",
        retry=retry,
        timeout=timeout,
    )
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Timeout", False)
    assert "overall timeout" in ex.status.error.message
    assert ex.status.attempts == 0
    assert RUNS["attempt"] == 1


def test_function_default_timeouts_apply_while_parked(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    ex = env.execute("orch-long-sleep-default-timeouts", name="d")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Timeout", False)
    assert ex.status.attempts == 0  # the default retries do not apply to an overall timeout
    assert ex.status.finish_time == t0 + timedelta(minutes=30)


def test_a_standalone_controller_reads_function_defaults_from_published_functions(
    tmp_path: Path,
) -> None:
    """`kontinue controller` imports no user code: it finds defaults on the Function resources."""
    store = open_store(tmp_path / "state", create=True)
    clock = VirtualClock()
    t0 = clock.now()
    worker = Worker(store, REG, clock=clock)
    try:
        worker.publish_functions()
        controller = Controller(store, clock=clock)  # no registry, as in its own process
        start_execution(store, "orch-long-sleep-default-timeouts", name="d")

        def ended() -> bool:
            return store.get(Execution, "default", "d").terminal

        for _ in range(200):
            if ended():
                break
            moved = worker.poll() + controller.reconcile()
            if not moved and not worker.busy and controller.next_timer is not None:
                clock.advance_to(controller.next_timer)
            elif worker.busy:
                worker.wait_idle_event(0.05)
        ex = store.get(Execution, "default", "d")
        assert ex.status.phase == "Failed"
        assert ex.status.error is not None and ex.status.error.kind == "Timeout"
        assert "overall timeout" in ex.status.error.message
        assert ex.status.finish_time == t0 + timedelta(minutes=30)
    finally:
        worker.close()
        store.close()
