"""The engine: worker, controller, replay context, clock and registry."""

# the job records and job-spec helpers of the runners, for the SDK's job steps (the SDK
# itself does not import the runners: the runtime starts the jobs)
from kontinue.api import JournalEntry
from kontinue.runners import (
    DEFAULT_SHELL,
    JobRecord,
    PodRecord,
    job_spec_from_pod_spec,
    log_error_summary,
    pod_model,
    script_pod_spec,
    to_plain,
)
from kontinue.runtime._cancel import (
    cancel_requested,
    cleanup_on_cancel,
    delivered_cancel,
    on_cancel_of,
    shielded,
)
from kontinue.runtime._claim import Claim
from kontinue.runtime._cleanup import TTL_LABEL, jobs_with_ttl
from kontinue.runtime._clock import Clock, SystemClock, VirtualClock
from kontinue.runtime._context import CancelScope, ExecutionContext
from kontinue.runtime._controller import Controller
from kontinue.runtime._engine import Engine, TreeState, tree_state
from kontinue.runtime._errors import (
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
    error_from_record,
    error_to_record,
    get_error_kind,
    is_retryable_error,
    new_non_retryable_error,
    new_retryable_error,
)
from kontinue.runtime._imports import import_file
from kontinue.runtime._informer import Informer
from kontinue.runtime._leader import Elector, LeaderLease
from kontinue.runtime._mutex import mutex_resource_name
from kontinue.runtime._naming import (
    StepOptions,
    check_execution_name,
    check_generate_name,
    child_resource_name,
    is_valid_step_name,
)
from kontinue.runtime._operations import (
    GROUP_LABEL,
    PARENT_LABEL,
    OperationError,
    cancel_execution,
    children_of,
    function_group,
    resume_execution,
    retry_execution,
    skip_execution,
    start_execution,
)
from kontinue.runtime._registry import REGISTRY, FunctionDef, Registry, UnknownFunctionError
from kontinue.runtime._steps import (
    EXECUTION_LABEL,
    PENDING,
    STEP_LABEL,
    NotAnOutcome,
    Outcome,
    Pending,
    StepRuntime,
    max_depth,
    step_runtime,
)
from kontinue.runtime._tree import ROOT_LABEL, root_label, tree_executions, tree_suspensions
from kontinue.runtime._worker import Worker

__all__ = [
    "DEFAULT_SHELL",
    "EXECUTION_LABEL",
    "GROUP_LABEL",
    "PARENT_LABEL",
    "PENDING",
    "REGISTRY",
    "ROOT_LABEL",
    "STEP_LABEL",
    "TTL_LABEL",
    "CancelScope",
    "Claim",
    "Clock",
    "Controller",
    "Elector",
    "Engine",
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
    "ExecutionContext",
    "FunctionDef",
    "Informer",
    "JobRecord",
    "JournalEntry",
    "LeaderLease",
    "NotAnOutcome",
    "OperationError",
    "Outcome",
    "Pending",
    "PodRecord",
    "Registry",
    "StepOptions",
    "StepRuntime",
    "SystemClock",
    "TreeState",
    "UnknownFunctionError",
    "VirtualClock",
    "Worker",
    "cancel_execution",
    "cancel_requested",
    "check_execution_name",
    "check_generate_name",
    "child_resource_name",
    "children_of",
    "cleanup_on_cancel",
    "delivered_cancel",
    "error_from_record",
    "error_to_record",
    "function_group",
    "get_error_kind",
    "import_file",
    "is_retryable_error",
    "is_valid_step_name",
    "job_spec_from_pod_spec",
    "jobs_with_ttl",
    "log_error_summary",
    "max_depth",
    "mutex_resource_name",
    "new_non_retryable_error",
    "new_retryable_error",
    "on_cancel_of",
    "pod_model",
    "resume_execution",
    "retry_execution",
    "root_label",
    "script_pod_spec",
    "shielded",
    "skip_execution",
    "start_execution",
    "step_runtime",
    "to_plain",
    "tree_executions",
    "tree_state",
    "tree_suspensions",
]
