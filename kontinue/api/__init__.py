"""Resource models of `kontinue.cloud/v1alpha1`: Execution, Suspension, Function, Mutex."""

from kontinue.api._duration import Duration, DurationError, format_duration, parse_duration
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
from kontinue.api._execution import (
    TERMINAL_PHASES,
    ChildPolicy,
    ErrorCause,
    ErrorRecord,
    Execution,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionSpec,
    ExecutionStatus,
    ExecutionTimeout,
    Lease,
    Phase,
    Progress,
    WaitingOn,
)
from kontinue.api._function import Function, FunctionSpec, Mutex, MutexStatus
from kontinue.api._meta import API_GROUP, API_VERSION, ObjectMeta, OwnerReference, Resource
from kontinue.api._suspension import Suspension, SuspensionSpec, SuspensionStatus

KINDS: dict[str, type[Resource]] = {
    cls.KIND: cls for cls in (Execution, Suspension, Function, Mutex)
}

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "KINDS",
    "RETRYABLE_BY_KIND",
    "TERMINAL_PHASES",
    "ChildPolicy",
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
    "ExecutionMutex",
    "ExecutionRetry",
    "ExecutionSpec",
    "ExecutionStatus",
    "ExecutionTimeout",
    "Function",
    "FunctionSpec",
    "Lease",
    "Mutex",
    "MutexStatus",
    "ObjectMeta",
    "OwnerReference",
    "Phase",
    "Progress",
    "Resource",
    "Suspension",
    "SuspensionSpec",
    "SuspensionStatus",
    "WaitingOn",
    "format_duration",
    "parse_duration",
]
