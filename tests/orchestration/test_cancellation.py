"""Cancellation: a whole subtree goes to Canceled; a running function finds out promptly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import kontinue
from kontinue.runtime import OperationError, Registry

from .conftest import EnvFactory, children, run_until, settle

REG = Registry()
SEEN: dict[str, Any] = {}
STARTED = threading.Event()
FINISHED = threading.Event()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    SEEN.clear()
    STARTED.clear()
    FINISHED.clear()
    yield


@kontinue.function("orch-wait-for-approval", registry=REG)
def wait_for_approval(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.suspend(ktx, kontinue.SuspendOptions(name="approve"))
    return "approved"


@kontinue.function("orch-middle", registry=REG)
def middle(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    result: str = kontinue.execute(ktx, "orch-wait-for-approval")
    return result


@kontinue.function("orch-busy", registry=REG)
def busy(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    """Work without SDK calls until told to stop, as long-running user code does."""
    kontinue.store(ktx, lambda: "started")
    STARTED.set()
    scope = ktx.context()
    for _ in range(600):  # bounded: at most ~30 s of real time
        if scope.wait(0.05):
            break
    SEEN["cancelled"] = scope.cancelled()
    SEEN["reason"] = scope.reason
    try:
        kontinue.set_message(ktx, "still going")
    except kontinue.ErrCanceled as err:
        SEEN["error"] = (type(err).__name__, err.message, err.retryable)
        raise
    finally:
        FINISHED.set()
    return "finished"


@kontinue.function("orch-tree-top", registry=REG)
def tree_top(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[str]:
    specs = [
        kontinue.ChildExecutionOptions(function="orch-middle"),
        kontinue.ChildExecutionOptions(function="orch-busy"),
    ]
    return kontinue.execute_parallel(ktx, specs)


def test_cancel_moves_the_whole_subtree_to_canceled(make_env: EnvFactory) -> None:
    env = make_env(REG)
    env.start("orch-tree-top", name="top")
    run_until(
        env,
        lambda: (
            STARTED.is_set()
            and len(children(env, "top-execute-1")) == 1
            and env.get("top-execute-1-execute-1").status.phase == "Suspended"
        ),
    )
    assert env.get("top-execute-2").status.phase == "Executing"  # running in a worker thread

    canceled = env.cancel("top")
    assert set(canceled) == {
        "top",
        "top-execute-1",
        "top-execute-1-execute-1",
        "top-execute-2",
    }
    run_until(env, FINISHED.is_set)
    settle(env)
    for name in canceled:
        ex = env.get(name)
        assert ex.status.phase == "Canceled", (name, ex.status)
        assert ex.status.finish_time is not None
    assert env.get("top").status.message == "canceled by request"
    assert (
        env.get("top-execute-1-execute-1").status.message
        == "canceled because its parent top-execute-1 was canceled"
    )
    # the running function saw it through its context handle, then at its next SDK call
    assert SEEN["cancelled"] is True and SEEN["reason"] == "canceled"
    assert SEEN["error"][0] == "ErrCanceled" and SEEN["error"][2] is False
    assert "top-execute-2" in SEEN["error"][1]
    assert env.get("top-execute-2").status.message != "still going"
    assert env.engine.worker.busy == 0
    # nothing comes back to life afterwards, and a second cancel says why not
    env.run_all()
    assert {env.get(n).status.phase for n in canceled} == {"Canceled"}
    with pytest.raises(OperationError, match="already Canceled"):
        env.cancel("top")


def test_the_controller_cancels_children_of_a_canceled_parent_it_missed(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    env.start("orch-middle", name="mid")
    run_until(
        env, lambda: env.get("mid").status.phase == "Suspended" and bool(children(env, "mid"))
    )
    settle(env)

    # Cancel only the parent's record (as a crashed `kontinue cancel` mid-way would leave it):
    # the controller's cascade reaches the child.
    def cancel_only_the_parent(ex: Any) -> None:
        ex.status.phase = "Canceled"

    parent = env.get("mid")
    cancel_only_the_parent(parent)
    env.store.update_status(parent)
    settle(env)
    (child,) = children(env, "mid")
    assert child.status.phase == "Canceled"
    assert child.status.message == "canceled because its parent was canceled"
