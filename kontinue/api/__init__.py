"""Resource models of `kontinue.cloud/v1alpha1`: Execution, Suspension, Function, Mutex,
ScheduledExecution and ArchivedExecution."""

from kontinue.api._archive import ArchivedExecution, ArchivedExecutionSpec, pack_tree, unpack_tree
from kontinue.api._duration import Duration, DurationError, format_duration, parse_duration
from kontinue.api._execution import (
    TERMINAL_PHASES,
    ChildPolicy,
    ErrorRecord,
    Execution,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionSpec,
    ExecutionStatus,
    ExecutionTimeout,
    ExecutionTTL,
    Lease,
    Phase,
    Progress,
    WaitingOn,
)
from kontinue.api._function import (
    Function,
    FunctionConcurrency,
    FunctionSpec,
    Mutex,
    MutexSpec,
    MutexStatus,
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

KINDS: dict[str, type[Resource]] = {
    cls.KIND: cls
    for cls in (Execution, Suspension, Function, Mutex, ScheduledExecution, ArchivedExecution)
}

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KINDS",
    "TERMINAL_PHASES",
    "ArchivedExecution",
    "ArchivedExecutionSpec",
    "ChildPolicy",
    "ConcurrencyPolicy",
    "Duration",
    "DurationError",
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
    "FunctionSpec",
    "Lease",
    "Mutex",
    "MutexSpec",
    "MutexStatus",
    "ObjectMeta",
    "OwnerReference",
    "Phase",
    "Progress",
    "Resource",
    "ScheduledExecution",
    "ScheduledExecutionSpec",
    "ScheduledExecutionStatus",
    "Suspension",
    "SuspensionSpec",
    "SuspensionStatus",
    "WaitingOn",
    "check_cron",
    "check_timezone",
    "format_duration",
    "pack_tree",
    "parse_duration",
    "unpack_tree",
]
