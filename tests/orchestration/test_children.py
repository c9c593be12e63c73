"""Child Executions: execute, spawn and wait, parallel and sequential fan-out, failures, policy."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

import kontinue
from kontinue.api import Execution, ExecutionSpec, ObjectMeta, Suspension
from kontinue.runtime import PARENT_LABEL, Registry, child_resource_name
from kontinue.store import NotFoundError

from .conftest import EnvFactory, children, run_until, settle

REG = Registry()
RUNS: Counter[str] = Counter()
_LOCK = threading.Lock()


def ran(key: str) -> None:
    with _LOCK:
        RUNS[key] += 1


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RUNS.clear()
    yield


class Part(BaseModel):
    name: str
    size: int


def _error_info(err: kontinue.Error) -> dict[str, Any]:
    return {
        "type": type(err).__name__,
        "kind": err.kind.value,
        "child": err.child,
        "message": str(err),  # the chain, as Go's err.Error() prints it
        "retryable": err.retryable,
        "cause": None
        if err.cause is None
        else {
            "message": str(err.cause),
            "kind": kontinue.get_error_kind(err.cause),
            "retryable": kontinue.is_retryable_error(err.cause),
            "is_execution": isinstance(err.cause, kontinue.ErrExecution),
            "is_value_error": isinstance(err.cause, ValueError),
        },
    }


# -- functions ---------------------------------------------------------------------------------


@kontinue.function("orch-build", registry=REG)
def build(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> Part:
    kontinue.store(ktx, lambda: ran(f"build:{args['name']}"))
    return Part(name=args["name"], size=len(args["name"]))


@kontinue.function("orch-execute-one", registry=REG)
def execute_one(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    ran("execute-one")
    part = kontinue.execute(ktx, "orch-build", {"name": "api"}, result_type=Part)
    return {"size": part.size, "type": type(part).__name__}


@kontinue.function("orch-nap", registry=REG)
def nap(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> Any:
    """Sleep `minutes` of virtual time, then return `value`."""
    kontinue.store(ktx, lambda: ran(f"nap:{args['value']}"))
    kontinue.sleep(ktx, timedelta(minutes=args["minutes"]))
    return args["value"]


SPAWNED: list[tuple[str, str]] = []


@kontinue.function("orch-spawn-wait", registry=REG)
def spawn_wait(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    ran("spawn-wait")
    slow = kontinue.spawn_execution(ktx, "orch-nap", {"value": "slow", "minutes": 30})
    fast = kontinue.spawn_execution(ktx, "orch-nap", {"value": "fast", "minutes": 10})
    SPAWNED.append((slow.name, fast.name))
    kontinue.store(ktx, lambda: ran("between"))
    return {
        "fast": kontinue.wait_execution(ktx, fast),
        "slow": kontinue.wait_execution(ktx, slow),
    }


@kontinue.function("orch-fan-out", registry=REG)
def fan_out(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[int]:
    """Child i sleeps (n - i) minutes, so the children finish in reverse input order."""
    n = args["n"]
    if args.get("own_progress"):
        kontinue.set_progress(ktx, 7, 9)
    specs = [
        kontinue.ChildExecutionOptions(
            function="orch-nap", arguments={"value": i * i, "minutes": n - i}
        )
        for i in range(n)
    ]
    return kontinue.execute_parallel(ktx, specs)


@kontinue.function("orch-in-sequence", registry=REG)
def in_sequence(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[str]:
    if args.get("own_progress"):
        kontinue.set_progress(ktx, 7, 9)
    specs = [
        kontinue.ChildExecutionOptions(function="orch-nap", arguments={"value": v, "minutes": 10})
        for v in args["values"]
    ]
    return kontinue.execute_sequential(ktx, specs)


@kontinue.function("orch-broken", registry=REG)
def broken(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> None:
    raise ValueError("disk full on /var/lib/build")


@kontinue.function("orch-gate", registry=REG)
def gate(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.suspend(ktx, kontinue.SuspendOptions(name="approve", display_name="Approve"))
    return "approved"


@kontinue.function("orch-catching-parent", registry=REG)
def catching_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    try:
        kontinue.execute(ktx, args["child"], opts=kontinue.ExecuteOptions(name="the-child"))
    except (kontinue.ErrChildFailed, kontinue.ErrChildCanceled) as err:
        return _error_info(err)
    return {"type": None}


@kontinue.function("orch-plain-parent", registry=REG)
def plain_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> Any:
    opts = kontinue.ExecuteOptions.model_validate(args.get("opts") or {})
    return kontinue.execute(ktx, args["child"], args.get("args"), opts=opts)


@kontinue.function("orch-flaky-twice", registry=REG, retry=kontinue.RetryOptions(retries=0))
def flaky_twice(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    ran("flaky-twice")
    if ktx.attempts() < 2:
        raise RuntimeError(f"attempt {ktx.attempts() + 1} failed")
    return ktx.attempts()


@kontinue.function(
    "orch-slow-default-2h",
    registry=REG,
    timeout=kontinue.TimeoutOptions(attempt=timedelta(hours=2)),
)
def slow_default_2h(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(hours=1))
    return "slept"


@kontinue.function(
    "orch-slow-default-10m",
    registry=REG,
    timeout=kontinue.TimeoutOptions(attempt=timedelta(minutes=10)),
)
def slow_default_10m(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(hours=1))
    return "slept"


@kontinue.function("orch-kid", registry=REG)
def kid(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    ran(f"kid:{args['i']}")  # kid never parks: one call is one run
    if args["i"] == 1 and ktx.attempts() == 0:
        raise RuntimeError("kid 1 fails its first attempt")
    return int(args["i"])


@kontinue.function("orch-policy-parent", registry=REG)
def policy_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[int]:
    specs = [
        kontinue.ChildExecutionOptions(function="orch-kid", arguments={"i": i}) for i in range(3)
    ]
    return kontinue.execute_parallel(ktx, specs)


@kontinue.function("orch-family", registry=REG)
def family(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[Any]:
    specs = [
        kontinue.ChildExecutionOptions(function="orch-nap", arguments={"value": 1, "minutes": 60}),
        kontinue.ChildExecutionOptions(function="orch-gate"),
    ]
    return kontinue.execute_parallel(ktx, specs)


# -- execute, spawn, wait ----------------------------------------------------------------------


def test_execute_runs_a_child_and_returns_its_typed_result(make_env: EnvFactory) -> None:
    env = make_env(REG)
    ex = env.execute("orch-execute-one", name="one")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == {"size": 3, "type": "Part"}
    (child,) = children(env, "one")
    assert child.metadata.name == child_resource_name("one", "execute-1")
    assert child.spec.function == "orch-build"
    assert child.status.phase == "Completed"
    assert child.status.result == {"name": "api", "size": 3}
    # the parent parked while the child ran and replayed afterwards; the child ran once
    assert RUNS["execute-one"] == 2
    assert RUNS["build:api"] == 1
    assert [e["kind"] for e in env.journal("one")] == ["spawn", "wait"]


def test_spawn_then_wait_runs_children_concurrently_and_is_idempotent_on_replay(
    make_env: EnvFactory,
) -> None:
    SPAWNED.clear()
    env = make_env(REG)
    t0 = env.clock.now()
    ex = env.execute("orch-spawn-wait", name="sw")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == {"fast": "fast", "slow": "slow"}
    # both children slept at the same time: the parent is done after 30 virtual minutes, not 40
    assert ex.status.finish_time == t0 + timedelta(minutes=30)
    # every replay of spawn_execution returned the same two children; no others were made
    assert RUNS["spawn-wait"] >= 2
    assert len(set(SPAWNED)) == 1
    kids = children(env, "sw")
    assert [k.metadata.name for k in kids] == list(SPAWNED[0])
    assert RUNS["nap:slow"] == RUNS["nap:fast"] == RUNS["between"] == 1


def _as_if_a_worker_crashed_after_creating_the_child(env: Any, parent: str) -> Execution:
    """Leave the store as a crash between `store.create(child)` and the journal record does."""
    owner = env.get(parent)
    child = Execution(
        metadata=ObjectMeta(
            name=child_resource_name(parent, "execute-1"),
            labels={PARENT_LABEL: parent, "kontinue.cloud/step": "execute-1"},
            owner_references=[owner.owner_reference()],
        ),
        spec=ExecutionSpec(function="orch-build", arguments={"name": "api"}),
    )
    stored: Execution = env.store.create(child)
    return stored


def test_spawn_adopts_a_child_created_before_a_crash(make_env: EnvFactory) -> None:
    env = make_env(REG)
    env.start("orch-execute-one", name="adopt")
    orphan = _as_if_a_worker_crashed_after_creating_the_child(env, "adopt")
    assert env.journal("adopt") == []

    ex = env.run("adopt")
    assert ex.status.phase == "Completed", ex.status.error
    (child,) = children(env, "adopt")
    assert child.metadata.uid == orphan.metadata.uid  # adopted, not recreated
    assert RUNS["build:api"] == 1
    spawn = env.journal("adopt")[0]
    assert (spawn["kind"], spawn["child"]) == ("spawn", orphan.metadata.name)


def test_spawn_refuses_a_same_named_execution_owned_by_someone_else(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    env.start("orch-execute-one", name="clash")
    env.start("orch-build", {"name": "x"}, name=child_resource_name("clash", "execute-1"))
    ex = env.run("clash")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert ex.status.error.kind == "Validation"
    assert "clash-execute-1" in ex.status.error.message
    assert "rename the step" in ex.status.error.message


# -- fan-out ------------------------------------------------------------------------------------


def test_execute_parallel_fifty_children_results_in_input_order(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    env.start("orch-fan-out", {"n": 50}, name="fan")
    run_until(
        env,
        lambda: (
            len(children(env, "fan")) == 50
            and all(k.status.phase == "Suspended" for k in children(env, "fan"))
            and env.get("fan").status.phase == "Suspended"
        ),
    )
    parked = env.get("fan")
    assert parked.status.phase == "Suspended"
    assert parked.status.progress is not None
    assert parked.status.progress.model_dump() == {"current": 0, "max": 50}

    # while it stays parked, the controller shows its children finishing
    env.advance(timedelta(minutes=10, seconds=30))
    partway = env.get("fan")
    assert partway.status.phase == "Suspended"
    assert partway.status.progress is not None
    assert partway.status.progress.model_dump() == {"current": 10, "max": 50}

    ex = env.run("fan")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == [i * i for i in range(50)]
    assert ex.status.progress is not None
    assert ex.status.progress.model_dump() == {"current": 50, "max": 50}
    assert ex.status.finish_time == t0 + timedelta(minutes=50)

    kids = children(env, "fan")
    # spawned in input order, finished in the reverse order
    assert [k.metadata.name for k in kids] == [f"fan-execute-{i + 1}" for i in range(50)]
    finished = [k.status.finish_time for k in kids]
    assert all(a is not None and b is not None and a > b for a, b in itertools.pairwise(finished))
    assert all(RUNS[f"nap:{i * i}"] == 1 for i in range(50))


def test_fan_out_progress_is_left_alone_when_the_function_set_it(make_env: EnvFactory) -> None:
    env = make_env(REG)
    ex = env.execute("orch-fan-out", {"n": 3, "own_progress": True}, name="own")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.progress is not None
    assert ex.status.progress.model_dump() == {"current": 7, "max": 9}

    ex = env.execute("orch-in-sequence", {"values": ["a", "b"], "own_progress": True}, name="own2")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.progress is not None
    assert ex.status.progress.model_dump() == {"current": 7, "max": 9}


def test_execute_sequential_runs_one_after_the_other_with_progress(make_env: EnvFactory) -> None:
    env = make_env(REG)
    t0 = env.clock.now()
    env.start("orch-in-sequence", {"values": ["a", "b", "c"]}, name="seq")
    seen = []
    for step in range(3):

        def waiting_on_child(count: int = step + 1) -> bool:
            return len(children(env, "seq")) == count and env.get("seq").status.phase == "Suspended"

        run_until(env, waiting_on_child)
        settle(env)
        # only the current child exists; the next one starts when it has finished
        assert len(children(env, "seq")) == step + 1
        progress = env.get("seq").status.progress
        assert progress is not None
        seen.append((progress.current, progress.max))
        env.advance(timedelta(minutes=10))
    ex = env.run("seq")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == ["a", "b", "c"]
    assert seen == [(0, 3), (1, 3), (2, 3)]
    assert ex.status.progress is not None
    assert ex.status.progress.model_dump() == {"current": 3, "max": 3}
    kids = children(env, "seq")
    assert [k.spec.arguments["value"] for k in kids] == ["a", "b", "c"]
    for earlier, later in itertools.pairwise(kids):
        assert earlier.status.finish_time is not None and later.status.start_time is not None
        assert later.status.start_time >= earlier.status.finish_time
    assert ex.status.finish_time == t0 + timedelta(minutes=30)


# -- failures -----------------------------------------------------------------------------------


def test_a_failed_child_raises_err_child_failed_naming_the_child_and_its_error(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    ex = env.execute("orch-catching-parent", {"child": "orch-broken"}, name="p")
    assert ex.status.phase == "Completed", ex.status.error
    info = ex.status.result
    assert info["type"] == "ErrChildFailed"
    assert info["kind"] == "ChildFailed"
    assert info["child"] == "p-the-child"
    assert "p-the-child" in info["message"]
    assert "disk full on /var/lib/build" in info["message"]
    # the child's own error is the cause: a user function's failure, as ErrExecution, that is
    # also the ValueError the child raised
    assert info["cause"] == {
        "message": "disk full on /var/lib/build",  # as the ValueError printed it
        "kind": "Execution",
        "retryable": True,
        "is_execution": True,
        "is_value_error": True,
    }
    assert info["message"] == (
        'child Execution "p-the-child" (orch-broken) failed: '
        "ValueError: disk full on /var/lib/build"
    )

    ex = env.execute("orch-plain-parent", {"child": "orch-broken"}, name="q")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert ex.status.error.kind == "ChildFailed"
    assert ex.status.error.child == "q-execute-1"
    assert "q-execute-1" in ex.status.error.message
    assert "disk full on /var/lib/build" in ex.status.error.message


def test_a_canceled_child_raises_err_child_canceled(make_env: EnvFactory) -> None:
    env = make_env(REG)
    env.start("orch-catching-parent", {"child": "orch-gate"}, name="p")
    parked = env.run("p")
    assert parked.status.phase == "Suspended"
    env.cancel("p-the-child")
    ex = env.run("p")
    assert ex.status.phase == "Completed", ex.status.error
    info = ex.status.result
    assert info["type"] == "ErrChildCanceled"
    assert info["kind"] == "ChildCanceled"
    assert info["child"] == "p-the-child"
    assert "p-the-child" in info["message"] and "canceled" in info["message"]


def test_execute_options_retry_overrides_the_child_functions_default(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    # the function's default (no retries) applies without options: the child fails once
    ex = env.execute("orch-plain-parent", {"child": "orch-flaky-twice"}, name="default")
    assert ex.status.phase == "Failed"
    assert RUNS["flaky-twice"] == 1
    assert env.get("default-execute-1").status.attempts == 0

    RUNS.clear()
    t0 = env.clock.now()
    retry = {"retry": {"retries": 2, "backoff": "1m"}}
    ex = env.execute("orch-plain-parent", {"child": "orch-flaky-twice", "opts": retry}, name="o")
    assert ex.status.phase == "Completed", ex.status.error
    assert ex.status.result == 2
    assert RUNS["flaky-twice"] == 3
    child = env.get("o-execute-1")
    assert child.status.attempts == 2
    assert child.spec.retry is not None and child.spec.retry.retries == 2
    assert ex.status.finish_time == t0 + timedelta(minutes=2)


def test_execute_options_timeout_overrides_the_child_functions_default(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    # default 2h attempt timeout: the 1h sleep fits
    ex = env.execute("orch-plain-parent", {"child": "orch-slow-default-2h"}, name="a")
    assert ex.status.phase == "Completed", ex.status.error
    # ExecuteOptions shortens it to 10m: the child times out while it sleeps
    t0 = env.clock.now()
    opts = {"timeout": {"attempt": "10m"}}
    ex = env.execute("orch-plain-parent", {"child": "orch-slow-default-2h", "opts": opts}, name="b")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None and ex.status.error.kind == "ChildFailed"
    assert "attempt timeout" in ex.status.error.message
    child = env.get("b-execute-1")
    assert child.status.error is not None and child.status.error.kind == "Timeout"
    assert child.status.finish_time == t0 + timedelta(minutes=10)
    # the function's own 10m default applies when no option is given...
    t0 = env.clock.now()
    ex = env.execute("orch-plain-parent", {"child": "orch-slow-default-10m"}, name="c")
    assert ex.status.phase == "Failed"
    assert env.get("c-execute-1").status.finish_time == t0 + timedelta(minutes=10)
    # ...and ExecuteOptions lengthens it
    opts = {"timeout": {"attempt": "2h"}}
    ex = env.execute(
        "orch-plain-parent", {"child": "orch-slow-default-10m", "opts": opts}, name="d"
    )
    assert ex.status.phase == "Completed", ex.status.error


@pytest.mark.parametrize("policy", ["None", "RetryFailed"])
def test_child_policy_of_a_retried_parent(make_env: EnvFactory, policy: str) -> None:
    env = make_env(REG)
    retry = kontinue.RetryOptions.model_validate(
        {"retries": 1, "backoff": "30s", "childPolicy": policy}
    )
    ex = env.execute("orch-policy-parent", name="pp", retry=retry)
    assert ex.status.attempts == 1  # the parent was retried once
    kids = {k.spec.arguments["i"]: k for k in children(env, "pp")}
    assert len(kids) == 3  # a retry never spawns new children
    if policy == "None":
        # every recorded child outcome is kept: the failed child is not run again
        assert ex.status.phase == "Failed"
        assert ex.status.error is not None and ex.status.error.kind == "ChildFailed"
        assert ex.status.error.child == kids[1].metadata.name
        assert dict(RUNS) == {"kid:0": 1, "kid:1": 1, "kid:2": 1}
        assert kids[1].status.phase == "Failed" and kids[1].status.attempts == 0
    else:
        # only the failed child runs again; the completed ones keep their results
        assert ex.status.phase == "Completed", ex.status.error
        assert ex.status.result == [0, 1, 2]
        assert dict(RUNS) == {"kid:0": 1, "kid:1": 2, "kid:2": 1}
        assert [kids[i].status.attempts for i in range(3)] == [0, 1, 0]
        assert all(k.status.phase == "Completed" for k in kids.values())


# -- ownership ----------------------------------------------------------------------------------


def test_children_are_owned_and_labelled_and_deleting_the_parent_deletes_them(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    env.start("orch-family", name="fam")
    run_until(
        env,
        lambda: (
            len(children(env, "fam")) == 2
            and all(k.status.phase == "Suspended" for k in children(env, "fam"))
        ),
    )
    parent = env.get("fam")
    kids = children(env, "fam")
    for kid_ex in kids:
        (ref,) = kid_ex.metadata.owner_references
        assert (ref.kind, ref.name, ref.uid) == ("Execution", "fam", parent.metadata.uid)
        assert ref.controller is True
        assert kid_ex.metadata.labels[PARENT_LABEL] == "fam"
    suspensions = env.store.list(Suspension, "default")
    assert {s.spec.execution for s in suspensions} == {k.metadata.name for k in kids}

    env.store.delete(Execution, "default", "fam")
    for kid_ex in kids:
        with pytest.raises(NotFoundError):
            env.get(kid_ex.metadata.name)
    assert env.store.list(Suspension, "default") == []
    assert env.store.list(Execution, "default") == []
    settle(env)  # the engine copes with everything having gone
