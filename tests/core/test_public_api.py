"""The public namespaces export exactly what they promise (a change here is an API change)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import kontinue
import kontinue.sdk
import kontinue.testing
from kontinue.runners import LocalRunner
from kontinue.runtime import Registry
from kontinue.testing import Environment

SDK = {
    "CancelScope",
    "ChildExecution",
    "ChildExecutionOptions",
    "ErrAttemptTimeout",
    "ErrCanceled",
    "ErrChildCanceled",
    "ErrChildFailed",
    "ErrDuplicateStep",
    "ErrExecution",
    "ErrJobFailed",
    "ErrNonDeterminism",
    "ErrOverallTimeout",
    "Error",
    "ErrorKind",
    "ExecuteOptions",
    "ExecutionContext",
    "ExecutionMutex",
    "ExecutionTTL",
    "FunctionConcurrency",
    "FunctionName",
    "PollOptions",
    "RetryOptions",
    "SleepOptions",
    "StepOptions",
    "StoreOptions",
    "SuspendOptions",
    "TimeoutOptions",
    "clear_progress",
    "execute",
    "execute_parallel",
    "execute_sequential",
    "function",
    "get_error_kind",
    "is_retryable_error",
    "new_non_retryable_error",
    "new_retryable_error",
    "poll_until",
    "poll_until_named",
    "set_message",
    "set_progress",
    "sleep",
    "sleep_named",
    "spawn_execution",
    "store",
    "store_named",
    "suspend",
    "wait_any",
    "wait_execution",
}
JOBS = {
    "JobOptions",
    "JobResult",
    "LogOptions",
    "PodOptions",
    "PodResult",
    "ScriptOptions",
    "run_job",
    "run_pod",
    "run_script",
}


def test_sdk_exports() -> None:
    assert set(kontinue.sdk.__all__) - JOBS == SDK
    for name in kontinue.sdk.__all__:
        assert hasattr(kontinue.sdk, name), name


def test_everything_public_is_importable_from_kontinue() -> None:
    assert set(kontinue.sdk.__all__) <= set(kontinue.__all__)
    for name in kontinue.__all__:
        assert hasattr(kontinue, name), name


def test_testing_exports() -> None:
    assert kontinue.testing.__all__ == ["Environment"]


def test_error_sentinels_behave_like_errors_is() -> None:
    err = kontinue.ErrChildFailed("child x failed", child="x")
    assert isinstance(err, kontinue.Error)
    assert err.kind is kontinue.ErrorKind.CHILD_FAILED
    assert kontinue.is_retryable_error(err)
    assert kontinue.get_error_kind(err) == "ChildFailed"
    assert not kontinue.is_retryable_error(kontinue.ErrOverallTimeout("late"))
    assert kontinue.is_retryable_error(kontinue.ErrAttemptTimeout("late"))
    assert kontinue.is_retryable_error(RuntimeError("plain errors are retryable"))
    assert kontinue.get_error_kind(RuntimeError()) == ""
    assert not kontinue.is_retryable_error(kontinue.ErrDuplicateStep("twice"))
    cause = OSError("disk")
    wrapped = kontinue.new_non_retryable_error(cause, "cannot write")
    assert wrapped.cause is cause and wrapped.__cause__ is cause and not wrapped.retryable


# -- every exported sentinel is met by a user through a real call ------------------------------

REG = Registry()
CAUGHT: dict[str, dict[str, Any]] = {}
GO = threading.Event()
RUNNING = threading.Event()


def _catch(key: str, err: kontinue.Error) -> str:
    cause = err.cause
    CAUGHT[key] = {
        "type": type(err).__name__,
        "cause": None if cause is None else [c.__name__ for c in type(cause).__mro__],
        "text": str(err),
    }
    return key


@kontinue.function("api-duplicate", registry=REG)
def _duplicate(ktx: kontinue.ExecutionContext, args: Any) -> str:
    kontinue.store(ktx, lambda: 1, kontinue.StoreOptions(name="same"))
    try:
        kontinue.store(ktx, lambda: 2, kontinue.StoreOptions(name="same"))
    except kontinue.ErrDuplicateStep as err:
        return _catch("duplicate", err)
    return "no error"


ORDER = ["fetch"]


@kontinue.function("api-nondeterminism", registry=REG)
def _nondeterminism(ktx: kontinue.ExecutionContext, args: Any) -> str:
    try:
        kontinue.store(ktx, lambda: 1, kontinue.StoreOptions(name=ORDER[0]))
    except kontinue.ErrNonDeterminism as err:
        return _catch("nondeterminism", err)
    kontinue.sleep(ktx, timedelta(minutes=1))
    return "no error"


@kontinue.function("api-broken", registry=REG)
def _broken(ktx: kontinue.ExecutionContext, args: Any) -> None:
    raise ValueError("broken on purpose")


@kontinue.function("api-gate", registry=REG)
def _gate(ktx: kontinue.ExecutionContext, args: Any) -> None:
    kontinue.suspend(ktx)


@kontinue.function("api-slow", registry=REG)
def _slow(ktx: kontinue.ExecutionContext, args: Any) -> None:
    kontinue.sleep(ktx, timedelta(hours=1))


@kontinue.function("api-parent", registry=REG)
def _parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    timeout = kontinue.TimeoutOptions.model_validate(args.get("timeout") or {})
    opts = kontinue.ExecuteOptions(name="child", timeout=timeout if args.get("timeout") else None)
    try:
        kontinue.execute(ktx, args["child"], opts=opts)
    except (kontinue.ErrChildFailed, kontinue.ErrChildCanceled) as err:
        return _catch(args["key"], err)
    return "no error"


@kontinue.function("api-script", registry=REG)
def _script(ktx: kontinue.ExecutionContext, args: Any) -> str:
    opts = kontinue.ScriptOptions(image="alpine:3.20", command="echo 'Error: no disk' >&2; exit 4")
    try:
        kontinue.run_script(ktx, opts.model_copy(update={"check": True}))
    except kontinue.ErrJobFailed as err:
        return _catch("job", err)
    return "no error"


@kontinue.function("api-cancel-me", registry=REG)
def _cancel_me(ktx: kontinue.ExecutionContext, args: Any) -> str:
    RUNNING.set()
    GO.wait(30)
    try:
        kontinue.set_message(ktx, "still here")
    except kontinue.ErrCanceled as err:
        _catch("canceled", err)
        raise
    return "no error"


def test_every_exported_sentinel_is_raised_to_user_code_by_a_real_call(tmp_path: Path) -> None:
    with Environment(tmp_path, registry=REG, runners={"local": LocalRunner(tmp_path)}) as env:
        env.execute("api-duplicate")
        env.start("api-nondeterminism", name="nd")
        env.engine.run_until(lambda: env.get("nd").status.phase == "Suspended")
        ORDER[0] = "renamed"  # the code changed while it slept
        env.run("nd")
        env.execute("api-parent", {"child": "api-broken", "key": "failed"})
        env.start("api-parent", {"child": "api-gate", "key": "child-canceled"}, name="pc")
        env.run("pc")
        env.cancel("pc-child")
        env.run("pc")
        for key, timeout in (("attempt", {"attempt": "1m"}), ("overall", {"overall": "1m"})):
            env.execute("api-parent", {"child": "api-slow", "key": key, "timeout": timeout})
        ex = env.start("api-script")
        env.run(ex.metadata.name, skip_time=False)
        env.start("api-cancel-me", name="cm")
        env.engine.run_until(RUNNING.is_set, skip_time=False)
        env.cancel("cm")
        GO.set()
        env.engine.run_until(lambda: "canceled" in CAUGHT, skip_time=False, timeout=30)

    assert CAUGHT["duplicate"]["type"] == "ErrDuplicateStep"
    assert CAUGHT["nondeterminism"]["type"] == "ErrNonDeterminism"
    assert CAUGHT["failed"]["type"] == "ErrChildFailed"
    assert {"ErrExecution", "ValueError"} <= set(CAUGHT["failed"]["cause"])
    assert "broken on purpose" in CAUGHT["failed"]["text"]
    assert CAUGHT["child-canceled"]["type"] == "ErrChildCanceled"
    assert CAUGHT["attempt"]["type"] == "ErrChildFailed"
    assert CAUGHT["attempt"]["cause"][0] == "ErrAttemptTimeout"
    assert CAUGHT["overall"]["cause"][0] == "ErrOverallTimeout"
    assert CAUGHT["job"]["type"] == "ErrJobFailed"
    assert "exit code 4" in CAUGHT["job"]["text"] and "Error: no disk" in CAUGHT["job"]["text"]
    assert CAUGHT["canceled"]["type"] == "ErrCanceled"
    met = {CAUGHT[k]["type"] for k in CAUGHT} | {
        CAUGHT[k]["cause"][0] for k in CAUGHT if CAUGHT[k]["cause"]
    }
    sentinels = {n for n in kontinue.__all__ if n.startswith("Err") and n != "ErrorKind"}
    assert sentinels <= met | {"ErrExecution"}  # ErrExecution: the cause's base, checked above


# -- what a function sees of its context: the Go reference's context, no engine hooks ---------

CONTEXT = {"context", "execution", "attempts", "resumptions", "name", "namespace", "now"}
CONTEXT_PY = {"replaying"}  # Python's own: True while steps are read back from the journal


@kontinue.function("api-context", registry=REG)
def _context(ktx: kontinue.ExecutionContext, args: Any) -> dict[str, Any]:
    seen = {"replaying-before": ktx.replaying}
    kontinue.store(ktx, lambda: 1)
    ex = ktx.execution()
    return {
        **seen,
        "name": ktx.name,
        "namespace": ktx.namespace,
        "same": ex.metadata.name == ktx.name and ex.metadata.namespace == ktx.namespace,
        "labels": dict(ex.metadata.labels),
        "arguments": ex.spec.arguments,
        "attempts": ktx.attempts(),
        "resumptions": ktx.resumptions(),
        "cancelled": ktx.context().cancelled(),
        "now": ktx.now().isoformat(),
        "hooks": sorted(n for n in dir(ktx) if not n.startswith("_")),
    }


def test_the_context_shows_only_what_the_reference_offers(tmp_path: Path) -> None:
    public = {n for n in dir(kontinue.ExecutionContext) if not n.startswith("_")}
    assert public == CONTEXT | CONTEXT_PY
    for hook in ("record", "replay", "park", "step_name", "store_", "checkpoint", "service"):
        assert not hasattr(kontinue.ExecutionContext, hook), hook
    with Environment(tmp_path, registry=REG) as env:
        ex = env.execute("api-context", {"x": 1}, name="ctx")
    result = ex.status.result
    assert result is not None
    assert result["hooks"] == sorted(CONTEXT | CONTEXT_PY)
    assert result["name"] == "ctx" and result["same"] and result["namespace"] == "default"
    assert isinstance(result["labels"], dict) and result["arguments"] == {"x": 1}
    assert result["attempts"] == 0 and not result["cancelled"]
    assert result["replaying-before"] is False
