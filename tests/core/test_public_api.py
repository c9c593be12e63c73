"""The public namespaces export exactly what they promise (a change here is an API change)."""

from __future__ import annotations

import kontinue
import kontinue.sdk
import kontinue.testing

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
