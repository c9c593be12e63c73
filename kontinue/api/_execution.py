"""The Execution resource: one run of one function, with its spec and status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field

from kontinue.api._duration import Duration
from kontinue.api._meta import Resource, WireModel

__all__ = [
    "TERMINAL_PHASES",
    "CancelRequest",
    "ChildPolicy",
    "ErrorCause",
    "ErrorRecord",
    "Execution",
    "ExecutionMutex",
    "ExecutionRetry",
    "ExecutionSpec",
    "ExecutionStatus",
    "ExecutionTTL",
    "ExecutionTimeout",
    "JournalHead",
    "Lease",
    "OnCancel",
    "Phase",
    "Progress",
    "WaitingOn",
]

Phase = Literal[
    "Pending", "Executing", "Suspended", "Backoff", "Completed", "Failed", "Canceled", "Skipped"
]
TERMINAL_PHASES: frozenset[str] = frozenset({"Completed", "Failed", "Canceled", "Skipped"})
"""`Skipped`: a person skipped it; it ended without a result and its parent went on."""
ChildPolicy = Literal["None", "RetryFailed"]
OnCancel = Literal["Stop", "Cleanup"]
"""`Stop`: a cancel ends the Execution at once. `Cleanup`: the cancel is delivered to the
function as `ErrCanceled` at its next step, it may run clean-up steps in a shielded scope (a
pipeline's `finally:`), and the Execution ends `Canceled` when the function returns; a second
cancel (or a forced one) stops the clean-up at once."""


class ExecutionRetry(WireModel):
    """Automatic retries: how many, how long to wait between them, what happens to children."""

    retries: int = Field(default=0, ge=0)
    backoff: Duration = timedelta(seconds=5)
    child_policy: ChildPolicy = "None"


class ExecutionTimeout(WireModel):
    """Limits: `attempt` per attempt (retryable), `overall` from the first start (not)."""

    attempt: Duration | None = None
    overall: Duration | None = None


class ExecutionMutex(WireModel):
    """Executions sharing a mutex name run one at a time, first come, first served.

    The original platform writes it `mutex: {name: deploy-prod}`; `key` is accepted as an
    older spelling of the same field.
    """

    name: str = Field(validation_alias=AliasChoices("name", "key"), min_length=1)

    @property
    def key(self) -> str:
        """The mutex's name (the older spelling)."""
        return self.name


class ExecutionTTL(WireModel):
    """Clean-up of a finished root Execution: archive it, delete it, or both, after a while."""

    archive_after: Duration | None = None
    delete_after: Duration | None = None


class ExecutionSpec(WireModel):
    """What to run: the function, its arguments and how to retry and time it out."""

    function: str
    arguments: Any = None
    retry: ExecutionRetry | None = None
    timeout: ExecutionTimeout | None = None
    mutex: ExecutionMutex | None = None
    ttl: ExecutionTTL | None = None
    display_name: str | None = None
    description: str | None = None
    on_cancel: OnCancel | None = None
    """What a cancel does: `Stop` (the default) or `Cleanup` (see `OnCancel`)."""


class CancelRequest(WireModel):
    """A cancel asked of an Execution whose function cleans up first (`onCancel: Cleanup`)."""

    time: datetime
    reason: str


class Progress(WireModel):
    """A progress indicator: step `current` of `max`."""

    current: int
    max: int


class ErrorCause(WireModel):
    """One error of a failure's cause chain, as recorded."""

    type: str | None = None
    kind: str = "Execution"
    message: str
    retryable: bool = True
    child: str | None = None


class ErrorRecord(WireModel):
    """A failure as recorded: kind, message, whether a retry may help, the child involved.

    `causes` is the cause chain, outermost first (`__cause__`, like Go's wrapped errors); it is
    a flat list so that the resource's schema stays structural.
    """

    type: str | None = None
    kind: str = "Execution"
    message: str
    retryable: bool = True
    child: str | None = None
    stack_trace: str | None = None
    causes: list[ErrorCause] | None = None


class Lease(WireModel):
    """Which worker runs the Execution, until when unless renewed."""

    holder: str
    acquire_time: datetime
    renew_time: datetime
    expire_time: datetime


class WaitingOn(WireModel):
    """What a Suspended Execution waits for; the controller wakes it when that holds.

    For a fan-out that keeps progress itself, `progress_total` is the number of children and
    `progress_done` how many had finished before these `names`; the controller keeps
    `status.progress` current as the rest finish, without waking the parent for each.
    """

    kind: Literal["suspension", "children", "job", "mutex", "poll"]
    names: list[str] = Field(default_factory=list)
    until: datetime | None = None
    step: str | None = None
    runner: str | None = None
    mode: Literal["all", "any"] = "all"
    progress_total: int | None = None
    progress_done: int = 0


class JournalHead(WireModel):
    """Where the journal stands, for a store that keeps it beside the Execution.

    The Kubernetes store appends each step here with one fenced patch of the status: `tail`
    holds the entries from `sealed` to `next - 1`; older ones are sealed into segments
    (ConfigMaps) so that this object stays small however long the journal grows. The
    embedded store keeps its journal in a table and leaves this empty.
    """

    next: int = 0
    sealed: int = 0
    tail: list[dict[str, Any]] = Field(default_factory=list)


class ExecutionStatus(WireModel):
    """What happened so far; written only through the status subresource."""

    phase: Phase = "Pending"
    attempts: int = 0
    resumptions: int = 0
    worker: str | None = None
    """The worker that last ran this Execution; a retry clears it (see `resumptions`)."""
    message: str | None = None
    progress: Progress | None = None
    result: Any = None
    error: ErrorRecord | None = None
    start_time: datetime | None = None
    attempt_start_time: datetime | None = None
    finish_time: datetime | None = None
    backoff_until: datetime | None = None
    lease: Lease | None = None
    waiting_on: WaitingOn | None = None
    steps: int = 0
    cancel_requested: CancelRequest | None = None
    """Set by a cancel of an `onCancel: Cleanup` Execution; it ends Canceled after clean-up."""
    observed_cancel: bool | None = None
    """True once the function was told of the cancel request (its clean-up runs then)."""
    journal: JournalHead | None = None


class Execution(Resource):
    """One run of one function (`kind: Execution`, `kontinue.cloud/v1alpha1`)."""

    KIND: ClassVar[str] = "Execution"
    PLURAL: ClassVar[str] = "executions"

    spec: ExecutionSpec
    status: ExecutionStatus = Field(default_factory=ExecutionStatus)

    @property
    def terminal(self) -> bool:
        """True once the Execution is Completed, Failed, Canceled or Skipped."""
        return self.status.phase in TERMINAL_PHASES
