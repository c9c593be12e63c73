"""Resource models of `kontinue.cloud/v1alpha1`: Execution, Suspension, Function, Mutex,
ScheduledExecution and ArchivedExecution.

The models (and pydantic) are imported on first use of one of their names: `kontinue list`
reads rows without them and starts faster. The errors are plain Python and always here."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kontinue.api._errors import (
    RETRYABLE_BY_KIND,
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
)

if TYPE_CHECKING:
    from kontinue.api._archive import (
        ArchivedExecution,
        ArchivedExecutionSpec,
        pack_tree,
        unpack_tree,
    )
    from kontinue.api._duration import Duration, DurationError, format_duration, parse_duration
    from kontinue.api._execution import (
        TERMINAL_PHASES,
        CancelRequest,
        ChildPolicy,
        ErrorCause,
        ErrorRecord,
        Execution,
        ExecutionMutex,
        ExecutionRetry,
        ExecutionSpec,
        ExecutionStatus,
        ExecutionTimeout,
        ExecutionTTL,
        JournalHead,
        Lease,
        OnCancel,
        Phase,
        Progress,
        WaitingOn,
    )
    from kontinue.api._function import (
        Function,
        FunctionConcurrency,
        FunctionSource,
        FunctionSpec,
        Mutex,
        MutexSpec,
        MutexStatus,
    )
    from kontinue.api._journal import (
        ENTRY_KINDS,
        CancelEntry,
        JobEntry,
        JournalEntry,
        OtherEntry,
        PollEntry,
        SpawnEntry,
        StepEntry,
        StoreEntry,
        SuspensionEntry,
        WaitEntry,
        new_entry,
        parse_journal,
        parse_journal_json,
    )
    from kontinue.api._meta import API_GROUP, API_VERSION, ObjectMeta, OwnerReference, Resource
    from kontinue.api._schedule import (
        ConcurrencyPolicy,
        ExecutionDefaults,
        ScheduledExecution,
        ScheduledExecutionSpec,
        ScheduledExecutionStatus,
        check_cron,
        check_timezone,
    )
    from kontinue.api._suspension import Suspension, SuspensionSpec, SuspensionStatus

    KINDS: dict[str, type[Resource]]

# name -> the module of this package that defines it, imported when the name is first used
_LAZY = {
    "ArchivedExecution": "_archive",
    "ArchivedExecutionSpec": "_archive",
    "pack_tree": "_archive",
    "unpack_tree": "_archive",
    "Duration": "_duration",
    "DurationError": "_duration",
    "format_duration": "_duration",
    "parse_duration": "_duration",
    "TERMINAL_PHASES": "_execution",
    "ChildPolicy": "_execution",
    "ErrorCause": "_execution",
    "ErrorRecord": "_execution",
    "Execution": "_execution",
    "ExecutionMutex": "_execution",
    "ExecutionRetry": "_execution",
    "ExecutionSpec": "_execution",
    "ExecutionStatus": "_execution",
    "ExecutionTimeout": "_execution",
    "ExecutionTTL": "_execution",
    "JournalHead": "_execution",
    "Lease": "_execution",
    "OnCancel": "_execution",
    "CancelRequest": "_execution",
    "CancelEntry": "_journal",
    "Phase": "_execution",
    "Progress": "_execution",
    "WaitingOn": "_execution",
    "ENTRY_KINDS": "_journal",
    "JobEntry": "_journal",
    "JournalEntry": "_journal",
    "OtherEntry": "_journal",
    "PollEntry": "_journal",
    "SpawnEntry": "_journal",
    "StepEntry": "_journal",
    "StoreEntry": "_journal",
    "SuspensionEntry": "_journal",
    "WaitEntry": "_journal",
    "new_entry": "_journal",
    "parse_journal": "_journal",
    "parse_journal_json": "_journal",
    "Function": "_function",
    "FunctionConcurrency": "_function",
    "FunctionSource": "_function",
    "FunctionSpec": "_function",
    "Mutex": "_function",
    "MutexSpec": "_function",
    "MutexStatus": "_function",
    "API_GROUP": "_meta",
    "API_VERSION": "_meta",
    "ObjectMeta": "_meta",
    "OwnerReference": "_meta",
    "Resource": "_meta",
    "ConcurrencyPolicy": "_schedule",
    "ExecutionDefaults": "_schedule",
    "ScheduledExecution": "_schedule",
    "ScheduledExecutionSpec": "_schedule",
    "ScheduledExecutionStatus": "_schedule",
    "check_cron": "_schedule",
    "check_timezone": "_schedule",
    "Suspension": "_suspension",
    "SuspensionSpec": "_suspension",
    "SuspensionStatus": "_suspension",
}


def __getattr__(name: str) -> Any:
    # PEP 562: a model's module (and pydantic) is imported when one of its names is used
    if name == "KINDS":
        kinds = {
            cls.KIND: cls
            for cls in (
                __getattr__("Execution"),
                __getattr__("Suspension"),
                __getattr__("Function"),
                __getattr__("Mutex"),
                __getattr__("ScheduledExecution"),
                __getattr__("ArchivedExecution"),
            )
        }
        globals()["KINDS"] = kinds
        return kinds
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "ENTRY_KINDS",
    "KINDS",
    "RETRYABLE_BY_KIND",
    "TERMINAL_PHASES",
    "ArchivedExecution",
    "ArchivedExecutionSpec",
    "CancelEntry",
    "CancelRequest",
    "ChildPolicy",
    "ConcurrencyPolicy",
    "Duration",
    "DurationError",
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
    "ErrorCause",
    "ErrorKind",
    "ErrorRecord",
    "Execution",
    "ExecutionDefaults",
    "ExecutionMutex",
    "ExecutionRetry",
    "ExecutionSpec",
    "ExecutionStatus",
    "ExecutionTTL",
    "ExecutionTimeout",
    "Function",
    "FunctionConcurrency",
    "FunctionSource",
    "FunctionSpec",
    "JobEntry",
    "JournalEntry",
    "JournalHead",
    "Lease",
    "Mutex",
    "MutexSpec",
    "MutexStatus",
    "ObjectMeta",
    "OnCancel",
    "OtherEntry",
    "OwnerReference",
    "Phase",
    "PollEntry",
    "Progress",
    "Resource",
    "ScheduledExecution",
    "ScheduledExecutionSpec",
    "ScheduledExecutionStatus",
    "SpawnEntry",
    "StepEntry",
    "StoreEntry",
    "Suspension",
    "SuspensionEntry",
    "SuspensionSpec",
    "SuspensionStatus",
    "WaitEntry",
    "WaitingOn",
    "check_cron",
    "check_timezone",
    "format_duration",
    "new_entry",
    "pack_tree",
    "parse_duration",
    "parse_journal",
    "parse_journal_json",
    "unpack_tree",
]
