"""The kontinue SDK: durable functions in Python, the twin of the Go SDK reference.

SDK calls are module-level functions that take the `ExecutionContext` first and their
options last: `kontinue.store(ktx, fn)`, `kontinue.sleep(ktx, timedelta(minutes=5))`.
"""

from kontinue.runtime import (
    CancelScope,
    ErrAttemptTimeout,
    ErrCanceled,
    ErrChildCanceled,
    ErrChildFailed,
    ErrDuplicateStep,
    ErrExecution,
    ErrJobFailed,
    ErrNonDeterminism,
    Error,
    ErrorKind,
    ErrOverallTimeout,
    ExecutionContext,
    get_error_kind,
    is_retryable_error,
    new_non_retryable_error,
    new_retryable_error,
)
from kontinue.sdk._children import (
    execute,
    execute_parallel,
    execute_sequential,
    spawn_execution,
    wait_execution,
)
from kontinue.sdk._function import function
from kontinue.sdk._jobs import (
    JobOptions,
    JobResult,
    LogOptions,
    PodOptions,
    PodResult,
    ScriptOptions,
    run_job,
    run_pod,
    run_script,
)
from kontinue.sdk._options import (
    ChildExecution,
    ChildExecutionOptions,
    ExecuteOptions,
    ExecutionMutex,
    PollOptions,
    RetryOptions,
    SleepOptions,
    StepOptions,
    StoreOptions,
    SuspendOptions,
    TimeoutOptions,
)
from kontinue.sdk._state import clear_progress, set_message, set_progress, store, store_named
from kontinue.sdk._suspend import poll_until, poll_until_named, sleep, sleep_named, suspend

FunctionName = str
"""Function names are plain strings."""

__all__ = [
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
    "JobOptions",
    "JobResult",
    "LogOptions",
    "PodOptions",
    "PodResult",
    "PollOptions",
    "RetryOptions",
    "ScriptOptions",
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
    "run_job",
    "run_pod",
    "run_script",
    "set_message",
    "set_progress",
    "sleep",
    "sleep_named",
    "spawn_execution",
    "store",
    "store_named",
    "suspend",
    "wait_execution",
]
