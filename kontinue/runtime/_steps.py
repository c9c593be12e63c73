"""The engine behind a running function: one step primitive and the resources steps create.

Every SDK call goes through `StepRuntime.step`: it allocates the step's deterministic name,
checks for cancellation and timeouts, looks the step up in the journal (a step recorded at a
different position is `ErrNonDeterminism`), and only when the journal does not have it runs
the step's live part, which either returns the fields to record (they are written durably
before the function goes on), a `WaitingOn` (the Execution parks and holds no worker), or
`PENDING` (not done yet, nothing recorded: the caller parks on several at once).

The runtime also owns what steps create in the store and the runners: child Executions,
Suspensions and jobs. The SDK (`kontinue.sdk`) is a thin layer of public functions over it
and never touches the store or the runners itself; users see only `ExecutionContext`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn, TypeVar

from kontinue.api import (
    CancelEntry,
    Execution,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionSpec,
    ExecutionTimeout,
    ExecutionTTL,
    ObjectMeta,
    Progress,
    StepEntry,
    Suspension,
    SuspensionSpec,
    WaitingOn,
)
from kontinue.runners import (
    EXECUTION_LABEL,
    STEP_LABEL,
    JobRecord,
    JobRequest,
    OwnerRef,
    Runner,
    RunnerError,
)
from kontinue.runtime._cancel import CANCEL_KIND, on_cancel_of
from kontinue.runtime._clock import Clock
from kontinue.runtime._errors import (
    ErrAttemptTimeout,
    ErrCanceled,
    ErrDuplicateStep,
    ErrNonDeterminism,
    Error,
    ErrorKind,
    ErrOverallTimeout,
    error_to_record,
)
from kontinue.runtime._naming import (
    StepOptions,
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
    retry_execution,
)
from kontinue.runtime._secrets import create_sealed, mask, seal_by_values, seal_job_env
from kontinue.runtime._signals import Park, Stop
from kontinue.runtime._tree import ROOT_LABEL, root_label
from kontinue.store import AlreadyExistsError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from kontinue.runtime._claim import Claim
    from kontinue.runtime._context import CancelScope, ExecutionContext
    from kontinue.runtime._registry import Registry
    from kontinue.store import Store

__all__ = [
    "EXECUTION_LABEL",
    "PENDING",
    "STEP_LABEL",
    "Live",
    "NotAnOutcome",
    "Outcome",
    "Pending",
    "StepRuntime",
    "step_runtime",
]

RETRIED_FOR = "kontinue.cloud/retried-for-parent-attempt"
DEPTH_ANNOTATION = "kontinue.cloud/depth"
DEPTH_ENV = "KONTINUE_MAX_DEPTH"
DEFAULT_MAX_DEPTH = 64
CAPTURED_CONTAINERS = 4
"""How many containers of a finished job's last pod have the end of their log journaled."""


class NotAnOutcome(Error):
    """Raised by a step's live part: `error` is raised as it is and nothing is recorded.

    For mistakes in the step's code (a value that cannot be recorded), which are not the
    step's outcome even where exceptions are recorded (`record_errors`).
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error), kind=ErrorKind.INTERNAL, retryable=False)
        self.error = error


class Pending:
    """The live part of a step found it not done yet; nothing is recorded."""

    def __repr__(self) -> str:
        return "PENDING"


PENDING: Final = Pending()

Outcome = dict[str, Any] | WaitingOn | Pending
"""What a step's live part found: the fields to record, a wait, or PENDING."""

Live = Callable[[str], Outcome]
"""A step's live part: given the step name, its `Outcome`."""


E = TypeVar("E", bound=StepEntry)


@functools.cache
def _kind_of(entry_type: type[StepEntry]) -> str:
    """The kind a model records by default (its `kind` field's default)."""
    return str(entry_type.model_fields["kind"].default)


def step_runtime(ktx: ExecutionContext) -> StepRuntime:
    """The engine object behind `ktx` (for the SDK and the DSL; not a user API)."""
    return ktx._runtime


def max_depth() -> int:
    """How deep a tree of Executions may grow (`KONTINUE_MAX_DEPTH`, default 64)."""
    try:
        return max(1, int(os.environ.get(DEPTH_ENV, DEFAULT_MAX_DEPTH)))
    except ValueError:
        return DEFAULT_MAX_DEPTH


class StepRuntime:
    """Replay cursor, durable records, parking and the resources of one run of a function."""

    def __init__(
        self,
        *,
        store: Store,
        claim: Claim,
        journal: Sequence[StepEntry],
        clock: Clock,
        registry: Registry,
        services: dict[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._claim = claim
        self._journal, self._raw_count = _effective(journal)
        # a cancel delivered in an earlier attempt (then retried) and the clean-up after it
        # are not replayed: the new attempt goes on from the steps before it
        attempts = claim.execution.status.attempts
        for index, entry in enumerate(self._journal):
            if entry.kind == CANCEL_KIND and (entry.attempt or 0) < attempts:
                del self._journal[index:]
                break
        self._cursor = 0
        self._replacing: dict[str, tuple[int, int]] = {}
        self.clock = clock
        self._registry = registry
        self._services = services or {}
        self._names: set[str] = set()
        self._counters: defaultdict[str, int] = defaultdict(int)
        self.progress_set_by_user = False
        """Whether the function set progress itself (then fan-outs leave it alone)."""

    # -- what the Execution is ------------------------------------------------------------

    def execution(self) -> Execution:
        """The Execution as this worker last wrote or read it."""
        return self._claim.execution

    @property
    def name(self) -> str:
        return self._claim.execution.metadata.name

    @property
    def namespace(self) -> str:
        return self._claim.execution.metadata.namespace

    def attempts(self) -> int:
        """Previous attempts, not counting the one running now."""
        return self._claim.execution.status.attempts

    @property
    def scope(self) -> CancelScope:
        return self._claim.scope

    @property
    def replaying(self) -> bool:
        """True while steps are still being read back from the journal."""
        return self._cursor < len(self._journal)

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def store(self) -> Store:
        """The store this run writes to (for the engine's own tools, e.g. benchmarks)."""
        return self._store

    def retry_options(self) -> ExecutionRetry:
        """The retry options in force for this Execution (its spec, else the function's)."""
        return self._claim.retry

    def service(self, key: str) -> Any:
        """A runtime service (e.g. the job runners) by key."""
        try:
            return self._services[key]
        except KeyError:
            raise Error(
                f"this worker has no {key} configured", kind=ErrorKind.INTERNAL, retryable=False
            ) from None

    # -- the step primitive ---------------------------------------------------------------

    def step(self, entry_type: type[E], live: Live, **how: Any) -> E:
        """Run one step: its recorded entry on replay, else its live part, recorded or parked.

        `how` are `try_step`'s keywords (`kind`, `opts`, `op`, `name`, `record_errors`); here
        the live part must finish (fields to record) or wait (a `WaitingOn`), not say PENDING.
        """
        entry = self.try_step(entry_type, live, **how)
        if entry is None:
            kind = how.get("kind") or _kind_of(entry_type)
            raise Error(
                f'step of kind {kind} in Execution "{self.name}" returned PENDING where it '
                "must finish or wait",
                kind=ErrorKind.INTERNAL,
                retryable=False,
            )
        return entry

    def try_step(
        self,
        entry_type: type[E],
        live: Live,
        *,
        kind: str | None = None,
        opts: StepOptions | None = None,
        op: str | None = None,
        name: str | None = None,
        record_errors: bool = False,
    ) -> E | None:
        """Run one step; None if its live part said PENDING (then nothing is recorded).

        Args:
            entry_type: the journal entry's model (`StoreEntry`, `SpawnEntry`, ...).
            live: runs the step for real (see `Live`), only when the journal lacks it.
            kind: the journal kind, where the model records several (`sleep`, `suspend`).
            opts: naming options; the name is allocated from `op` (default `kind`).
            name: a fixed step name instead of an allocated one (checkpoint still runs).
            record_errors: an exception `live` raises is recorded as the step's outcome
                (then raised as it is); otherwise it propagates and nothing is recorded.
        """
        kind = kind or _kind_of(entry_type)
        if name is None:
            name = self.step_name(op or kind, opts)
        else:
            self.checkpoint()
        entry = self._replay(name, kind, entry_type)
        if entry is not None:
            return entry
        try:
            outcome = live(name)
        except NotAnOutcome as exc:
            raise exc.error from None
        except Exception as exc:
            if not record_errors:
                raise
            fields: dict[str, Any] = {"error": error_to_record(exc)}
            if opts is not None:
                fields.update(displayName=opts.display_name, description=opts.description)
            self._record(entry_type, name, kind, fields)
            raise  # the caller's own exception, as its `except` expects
        if isinstance(outcome, WaitingOn):
            self.park(outcome)
        if isinstance(outcome, Pending):
            return None
        return self._record(entry_type, name, kind, outcome)

    def park(self, waiting_on: WaitingOn) -> NoReturn:
        """Release the Execution until `waiting_on` holds; the controller wakes it."""
        raise Park(waiting_on)

    def checkpoint(self) -> None:
        """Raise if the Execution was canceled or ran out of time; every step starts here."""
        claim = self._claim
        if claim.cancel_requested is not None and not claim.shielded and not claim.canceled:
            self._deliver_cancel()
            if claim.scope.cancelled() and claim.scope.reason == "canceled":
                # the request came while recorded steps were replayed: the next run replays
                # them undisturbed and delivers it where the recorded steps end
                claim.restart = True
                raise Stop("a cancel was requested while the Execution replayed its steps")
        scope = claim.scope
        if scope.cancelled():
            reason = scope.reason or "canceled"
            if reason == "deadline exceeded":
                self._raise_timeout()
            if reason == "canceled":
                raise ErrCanceled(f'Execution "{self.name}" was canceled', retryable=False)
            raise Stop(reason)  # lost to another worker, or this worker shuts down
        self._raise_timeout()

    def _raise_timeout(self) -> None:
        now = self.clock.now()
        ex = self._claim.execution
        if self._claim.overall_deadline and now >= self._claim.overall_deadline:
            raise ErrOverallTimeout(
                f'Execution "{ex.metadata.name}" ran past its overall timeout '
                f"({ex.spec.timeout.overall if ex.spec.timeout else '?'})"
            )
        if self._claim.attempt_deadline and now >= self._claim.attempt_deadline:
            raise ErrAttemptTimeout(
                f'attempt {ex.status.attempts + 1} of Execution "{ex.metadata.name}" ran past '
                f"its attempt timeout ({ex.spec.timeout.attempt if ex.spec.timeout else '?'})"
            )

    def step_name(self, op: str, opts: StepOptions | None) -> str:
        """Allocate the deterministic name of the next `op` step; a repeat is ErrDuplicateStep."""
        self.checkpoint()
        if opts is not None and opts.name:
            name = opts.name
            if not is_valid_step_name(name):
                raise Error(
                    f"step name {name!r} in Execution {self.name!r} is not valid: use at most 63 "
                    "lowercase letters, digits and '-', starting and ending with a letter or digit",
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                )
        elif opts is not None and opts.generate_name:
            prefix = opts.generate_name
            check_generate_name(prefix, f"generate_name of a step in Execution {self.name!r}")
            self._counters["gen:" + prefix] += 1
            sep = "" if prefix.endswith("-") else "-"
            name = f"{prefix}{sep}{self._counters['gen:' + prefix]}"
        else:
            self._counters[op] += 1
            name = f"{op}-{self._counters[op]}"
        if name in self._names:
            raise ErrDuplicateStep(
                f'step name "{name}" is used twice in Execution "{self.name}"; give each step '
                "its own name (StepOptions(name=...)) or use generate_name"
            )
        self._names.add(name)
        return name

    def _replay(self, name: str, kind: str, entry_type: type[E]) -> E | None:
        """The recorded entry for this step if the journal has it, else None (run it live).

        A step that failed in an earlier attempt (it raised, or its job failed) is run again
        in a new attempt (that is what a retry is for): its old entry is replaced when the new
        outcome is recorded.

        Raises:
            ErrNonDeterminism: the journal holds a different step at this position.
        """
        if self._cursor >= len(self._journal):
            self._deliver_cancel()
            return None
        entry = self._journal[self._cursor]
        if entry.kind == CANCEL_KIND:
            self._deliver_cancel()
        if entry.name != name or entry.kind != kind or not isinstance(entry, entry_type):
            raise ErrNonDeterminism(
                f'Execution "{self.name}" is not deterministic: at step {self._cursor + 1} the '
                f'journal recorded {entry.kind} "{entry.name}", but the code now asked for '
                f'{kind} "{name}". The function\'s code changed while the Execution was running, '
                "or its steps depend on values that are not recorded (time, randomness, "
                "environment): wrap those in kontinue.store(), or restore the code that started "
                "the Execution"
            )
        self._cursor += 1
        # a raised error or a failed job of an earlier attempt: this attempt runs it again
        if entry.is_failure and (entry.attempt or 0) < self.attempts():
            self._replacing[name] = (self._cursor - 1, entry.seq)
            self._deliver_cancel()
            return None
        return entry

    # -- cancel with clean-up (see _cancel.py) --------------------------------------------

    def _deliver_cancel(self) -> None:
        """Before a step runs live (or at a journaled cancel): raise a requested cancel."""
        claim = self._claim
        if claim.cancel_requested is None or claim.shielded or claim.canceled:
            return
        if self.observe_cancel():
            raise ErrCanceled(
                f'Execution "{self.name}" was canceled: {claim.cancel_requested.reason}',
                retryable=False,
            )

    def observe_cancel(self) -> bool:
        """Deliver a requested cancel at this point of the run; True if it is delivered.

        Where the journal ends, a `cancel` entry is recorded (once), the Execution's children
        still running are canceled and the status says the function observed the cancel; on
        replay that entry is consumed at the same point. False when no cancel was requested,
        or recorded steps other than the cancel entry come next (they replay first).
        """
        claim = self._claim
        request = claim.cancel_requested
        if request is None or claim.canceled:
            return False
        if claim.observed:
            return True
        if self._cursor < len(self._journal):
            if self._journal[self._cursor].kind != CANCEL_KIND:
                return False
            self._cursor += 1
            claim.observed = True
            return True
        self._record(CancelEntry, CANCEL_KIND, CANCEL_KIND, {"reason": request.reason})
        claim.observed = True
        self._cancel_children(request.reason)
        return True

    def _cancel_children(self, reason: str) -> None:
        def observed(ex: Execution) -> bool:
            if ex.status.observed_cancel:
                return False
            ex.status.observed_cancel = True
            return True

        self.update_status(observed)
        why = f"canceled because its parent {self.name} was canceled ({reason})"
        runners = self._services.get("runners")
        for child in children_of(self._store, self.execution()):
            if child.terminal or child.status.cancel_requested is not None:
                continue
            try:
                name = child.metadata.name
                cancel_execution(self._store, self.namespace, name, why=why, runners=runners)
            except (OperationError, NotFoundError):
                continue  # it ended meanwhile

    def _record(self, entry_type: type[E], name: str, kind: str, fields: dict[str, Any]) -> E:
        """Append a completed step to the journal, durably, before the function goes on."""
        replacing = self._replacing.pop(name, None)
        entry = entry_type.model_validate(
            {
                **fields,
                "seq": self._raw_count,
                "name": name,
                "kind": kind,
                "time": self.clock.now().isoformat(),
                "attempt": self.attempts(),
                "replaces": replacing[1] if replacing is not None else None,
            }
        )
        self._claim.append(entry)
        self._raw_count += 1
        if replacing is not None:
            self._journal[replacing[0]] = entry
        else:
            self._journal.append(entry)
            self._cursor = len(self._journal)
        return entry

    # -- status ---------------------------------------------------------------------------

    def update_status(self, mutate: Callable[[Execution], bool | None]) -> None:
        """Change this Execution's status (message, progress) with compare-and-swap."""
        self._claim.write_status(mutate)

    def set_message(self, message: str | None, *, only_if: str | None = None) -> None:
        """Show `message` (None: clear it); with `only_if`, only while that message shows."""

        def change(ex: Execution) -> bool:
            if only_if is not None and ex.status.message != only_if:
                return False
            if ex.status.message == message:
                return False
            ex.status.message = message
            return True

        self.update_status(change)

    def auto_progress(self, current: int, total: int) -> None:
        """Progress set by a fan-out; skipped if the function set progress itself.

        Also skipped while replaying: the run that recorded those steps wrote the same
        values already, and rewriting each one on every replay made a sequence of n
        children cost O(n^2) status writes.
        """
        if self.progress_set_by_user or self.replaying:
            return
        self.write_progress(Progress(current=current, max=total))

    def write_progress(self, progress: Progress | None) -> None:
        """Show (or with None, remove) a progress indicator; no write if unchanged."""

        def change(ex: Execution) -> bool:
            if ex.status.progress == progress:
                return False
            ex.status.progress = progress
            return True

        self.update_status(change)

    def mark_progress_set(self, by_user: bool = True) -> None:
        """Record that the function set progress itself (or, False, cleared it)."""
        self.progress_set_by_user = by_user

    # -- child Executions -----------------------------------------------------------------

    def spawn_child(
        self,
        step: str,
        function: str,
        arguments: Any,
        *,
        retry: ExecutionRetry | None = None,
        timeout: ExecutionTimeout | None = None,
        mutex: ExecutionMutex | None = None,
        ttl: ExecutionTTL | None = None,
        display_name: str | None = None,
        description: str | None = None,
    ) -> str:
        """Create the child Execution of step `step` (once: a re-run finds its own); its name."""
        parent = self.execution()
        depth = _depth(parent) + 1
        if depth > max_depth():
            raise Error(
                f'Execution "{parent.metadata.name}" cannot start a child of {function!r}: it '
                f"would be {depth} levels deep, past the limit of {max_depth()} ({DEPTH_ENV}). "
                f"The chain: {self._chain(parent)} -> {function}. A function that executes "
                "itself needs a condition that ends the recursion",
                kind=ErrorKind.VALIDATION,
                retryable=False,
            )
        ns = parent.metadata.namespace
        name = child_resource_name(parent.metadata.name, step)
        labels = {
            PARENT_LABEL: parent.metadata.name,
            STEP_LABEL: step,
            ROOT_LABEL: root_label(parent),
        }
        # the child goes to its own function's group, not its parent's
        group = function_group(self._store, ns, function)
        if group is None and function in self._registry:
            group = self._registry.get(function).worker_group
        if group is not None:
            labels[GROUP_LABEL] = group
        # a child's arguments built from this run's secrets keep them sealed in its own secret
        secret_values = self._claim.secrets
        arguments, sealed = seal_by_values(arguments, secret_values)
        child = Execution(
            metadata=ObjectMeta(
                name=name,
                namespace=ns,
                labels=labels,
                # a child first started in this attempt is this attempt's run, not one to re-run
                annotations={
                    DEPTH_ANNOTATION: str(depth),
                    **({RETRIED_FOR: str(self.attempts())} if self.attempts() else {}),
                },
                owner_references=[parent.owner_reference()],
            ),
            spec=ExecutionSpec(
                function=function,
                arguments=arguments,
                retry=retry,
                timeout=timeout,
                mutex=mutex,
                ttl=ttl,
                display_name=display_name,
                description=description,
                on_cancel=on_cancel_of(function, arguments),
            ),
        )
        try:
            create_sealed(self._store, child, sealed, secret_values)
        except AlreadyExistsError:
            existing = self._store.get(Execution, ns, name)
            if not any(r.uid == parent.metadata.uid for r in existing.metadata.owner_references):
                raise Error(
                    f'cannot start child "{name}" of Execution "{parent.metadata.name}": an '
                    "Execution of that name exists and belongs to someone else; rename the step",
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                ) from None
        return name

    def child(self, name: str, namespace: str | None = None) -> Execution:
        """A child Execution as the store has it now."""
        return self._store.get(Execution, namespace or self.namespace, name)

    def _chain(self, ex: Execution, shown: int = 6) -> str:
        """The functions from the root down to `ex`, the middle elided: `a -> b -> ... -> f`."""
        names = [ex.spec.function]
        current = ex
        while (parent := current.metadata.labels.get(PARENT_LABEL)) and len(names) < 1000:
            try:
                current = self._store.get(Execution, ex.metadata.namespace, parent)
            except Exception:
                break
            names.append(current.spec.function)
        names.reverse()
        if len(names) > shown:
            middle = f"... {len(names) - shown} more ..."
            names = [*names[: shown // 2], middle, *names[-shown // 2 :]]
        return " -> ".join(names)

    def retryable_later(self, ex: Execution) -> bool:
        """Whether a retried parent (`childPolicy: RetryFailed`) will re-run this child."""
        return (
            self.attempts() > 0
            and self.retry_options().child_policy == "RetryFailed"
            and ex.metadata.annotations.get(RETRIED_FOR) != str(self.attempts())
        )

    def retry_failed_child(self, ex: Execution) -> bool:
        """Under `childPolicy: RetryFailed`, a retried parent re-runs a child that failed."""
        if self.attempts() == 0 or ex.status.phase not in ("Failed", "Canceled"):
            return False
        if not self.retryable_later(ex):
            return False
        # Retry first, then mark: a crash in between costs at most one extra re-run of the
        # child, never the re-run itself (marking first could lose it).
        retried = retry_execution(self._store, ex.metadata.namespace, ex.metadata.name)
        for _ in range(10):
            retried.metadata.annotations[RETRIED_FOR] = str(self.attempts())
            try:
                self._store.update(retried)
                break
            except ConflictError:  # a worker already claimed it: mark the newer version
                retried = self._store.get(Execution, ex.metadata.namespace, ex.metadata.name)
        return True

    # -- Suspensions ----------------------------------------------------------------------

    def suspension(
        self,
        step: str,
        type_: Literal["Sleep", "Suspend"],
        *,
        resume_at: datetime | None = None,
        display_name: str | None = None,
        description: str | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> Suspension:
        """The Suspension of step `step`, created on first use."""
        ex = self.execution()
        name = child_resource_name(ex.metadata.name, step)
        sus = Suspension(
            metadata=ObjectMeta(
                name=name,
                namespace=ex.metadata.namespace,
                labels={EXECUTION_LABEL: ex.metadata.name, ROOT_LABEL: root_label(ex)},
                owner_references=[ex.owner_reference()],
            ),
            spec=SuspensionSpec(
                execution=ex.metadata.name,
                step=step,
                type=type_,
                resume_at=resume_at,
                # a gate's title built from a secret param shows ******
                display_name=mask(display_name, self._claim.secrets),
                description=mask(description, self._claim.secrets),
                inputs=inputs,
            ),
        )
        try:
            return self._store.create(sus)
        except AlreadyExistsError:
            return self._store.get(Suspension, ex.metadata.namespace, name)

    # -- jobs -----------------------------------------------------------------------------

    def runner(self, kind: str | None = None) -> Runner:
        """The job runner of `kind` (default: the one configured first)."""
        runners: dict[str, Runner] = self.service("runners")
        if kind is None:  # new jobs go to the runner configured first
            kind = next(iter(runners), "local")
        try:
            return runners[kind]
        except KeyError:
            raise Error(
                f"no {kind} job runner is configured for this worker",
                kind=ErrorKind.INFRASTRUCTURE,
            ) from None

    def launch_job(
        self,
        op: str,
        step: str,
        spec: dict[str, Any],
        labels: dict[str, str],
        annotations: dict[str, str],
    ) -> tuple[JobRecord, str]:
        """The job of step `step` in this attempt, started on first use; (record, runner kind).

        The job is named from the step and the attempt, so a worker that takes over after a
        crash finds it again instead of starting it twice.
        """
        runner = self.runner()
        ex = self.execution()
        attempt = self.attempts()
        name = child_resource_name(ex.metadata.name, step if not attempt else f"{step}-a{attempt}")
        remaining = self.scope.remaining()
        if remaining is not None and "activeDeadlineSeconds" not in spec:
            spec = {**spec, "activeDeadlineSeconds": max(1, math.ceil(remaining))}
        try:
            record = runner.poll(name, ex.metadata.namespace)
            if record is None:
                if runner.kind == "kubernetes" and self._claim.secrets:
                    spec = seal_job_env(self._store, spec, name, ex, self._claim.secrets)
                record = runner.start(
                    JobRequest(
                        name=name,
                        namespace=ex.metadata.namespace,
                        spec=spec,
                        step=step,
                        owner=OwnerRef(name=ex.metadata.name, uid=ex.metadata.uid or ""),
                        labels=labels,
                        annotations=annotations,
                    )
                )
        except (RunnerError, ValueError) as exc:
            raise Error(
                f'cannot start {op} step "{step}" of Execution "{ex.metadata.name}": {exc}',
                kind=ErrorKind.INFRASTRUCTURE,
                cause=exc,
            ) from None
        return record, runner.kind

    def capture_logs(self, record: JobRecord, limit_bytes: int) -> dict[str, str] | None:
        """The end of each container's log of the job's last pod (the first few containers),
        read once as the job finishes so that replay never reads logs from the runner again.

        A log the runner cannot give (its job gone, a runner error) is left out: reading it
        later falls back to the runner, as before.
        """
        pod = record.last_pod
        if pod is None or not pod.containers:
            return None
        captured: dict[str, str] = {}
        for status in pod.containers[:CAPTURED_CONTAINERS]:
            try:
                runner = self.runner(record.runner)
                text = runner.logs(
                    record.name, record.namespace, pod.name, status.name, None,
                    limit_bytes=limit_bytes,
                )  # fmt: skip
            except (Error, RunnerError, OSError):
                continue
            # binary output grows up to six times as JSON (\u0000): such a log stays with the
            # runner, as a step's result drops those bytes anyway
            if len(json.dumps(text)) <= 2 * limit_bytes:
                captured[status.name] = text
        return captured or None

    def job_logs(
        self,
        runner: str,
        job: str,
        namespace: str,
        pod: str,
        container: str | None,
        tail_lines: int | None,
        limit_bytes: int | None,
    ) -> str:
        """A finished pod's logs from the runner that ran it."""
        try:
            return self.runner(runner).logs(
                job, namespace, pod, container, tail_lines, limit_bytes=limit_bytes
            )
        except RunnerError as exc:
            raise Error(str(exc), kind=ErrorKind.INFRASTRUCTURE, cause=exc) from None


def _depth(ex: Execution) -> int:
    try:
        return int(ex.metadata.annotations.get(DEPTH_ANNOTATION, "0"))
    except ValueError:
        return 0


def _effective(raw: Sequence[StepEntry]) -> tuple[list[StepEntry], int]:
    """The journal as replay sees it: entries that replaced a failed step take its place."""
    out: list[StepEntry] = []
    position: dict[int, int] = {}
    for entry in raw:
        replaced = entry.replaces
        if replaced is not None and replaced in position:
            index = position[replaced]
            out[index] = entry
        else:
            index = len(out)
            out.append(entry)
        position[entry.seq] = index
    return out, len(raw)
