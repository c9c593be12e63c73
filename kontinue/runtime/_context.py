"""`ExecutionContext`: what a running function sees, and the replay cursor behind its steps."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from kontinue.api import Execution, ExecutionRetry, Progress, WaitingOn
from kontinue.runtime._cancel import CANCEL_KIND
from kontinue.runtime._clock import Clock
from kontinue.runtime._errors import (
    ErrAttemptTimeout,
    ErrCanceled,
    ErrDuplicateStep,
    ErrNonDeterminism,
    Error,
    ErrorKind,
    ErrOverallTimeout,
)
from kontinue.runtime._naming import StepOptions, check_generate_name, is_valid_step_name
from kontinue.runtime._signals import Park, Stop
from kontinue.store import NotFoundError

if TYPE_CHECKING:
    from kontinue.runtime._claim import Claim
    from kontinue.runtime._registry import Registry
    from kontinue.store import Store

__all__ = ["CancelScope", "ExecutionContext", "JournalEntry"]

JournalEntry = dict[str, Any]


class CancelScope:
    """The Python counterpart of Go's `ktx.Context()`: cancellation and deadline.

    Long-running code that does not call the SDK should check `cancelled()` now and then,
    or block in `wait()` instead of `time.sleep()`.
    """

    def __init__(self, clock: Clock, deadline: datetime | None = None) -> None:
        self._event = threading.Event()
        self._clock = clock
        self.reason: str | None = None
        self.deadline = deadline

    def cancel(self, reason: str) -> None:
        """Mark as cancelled (idempotent; the first reason wins)."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def cancelled(self) -> bool:
        """True once the Execution was canceled, lost, or ran past its deadline."""
        if self.deadline is not None and self._clock.now() >= self.deadline:
            self.cancel("deadline exceeded")
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds until the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, (self.deadline - self._clock.now()).total_seconds())

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to `timeout` seconds (or until the deadline); True if cancelled."""
        limit = self.remaining()
        if limit is not None and not self._clock.virtual:
            timeout = limit if timeout is None else min(timeout, limit)
        return self._event.wait(timeout) or self.cancelled()


class ExecutionContext:
    """Passed as `ktx` to every durable function; SDK calls take it as first argument."""

    def __init__(
        self,
        *,
        store: Store,
        claim: Claim,
        journal: list[JournalEntry],
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
            if entry.get("kind") == CANCEL_KIND and entry.get("attempt", 0) < attempts:
                del self._journal[index:]
                break
        self._cursor = 0
        self._replacing: dict[str, tuple[int, int]] = {}
        self._clock = clock
        self._registry = registry
        self._services = services or {}
        self._names: set[str] = set()
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._progress_set_by_user = False

    # -- public ---------------------------------------------------------------------------

    def execution(self) -> Execution:
        """The current Execution resource (name, namespace, labels, spec, status)."""
        return self._claim.execution

    def attempts(self) -> int:
        """Previous attempts, not counting the one running now."""
        return self._claim.execution.status.attempts

    def resumptions(self) -> int:
        """How often a worker took over this already-started Execution (retries included)."""
        return self._claim.execution.status.resumptions

    def context(self) -> CancelScope:
        """Cancellation and deadline of this attempt, for code that runs a long time."""
        return self._claim.scope

    @property
    def name(self) -> str:
        """The Execution's name."""
        return self._claim.execution.metadata.name

    @property
    def namespace(self) -> str:
        """The Execution's namespace."""
        return self._claim.execution.metadata.namespace

    def now(self) -> datetime:
        """The runtime clock's time (virtual in tests)."""
        return self._clock.now()

    @property
    def replaying(self) -> bool:
        """True while steps are still being read back from the journal."""
        return self._cursor < len(self._journal)

    # -- for the SDK ----------------------------------------------------------------------

    @property
    def store_(self) -> Store:
        """The store (for SDK modules)."""
        return self._store

    @property
    def clock(self) -> Clock:
        """The runtime clock."""
        return self._clock

    def service(self, key: str) -> Any:
        """A runtime service (e.g. the job runner) by key."""
        try:
            return self._services[key]
        except KeyError:
            raise Error(
                f"this worker has no {key} configured", kind=ErrorKind.INTERNAL, retryable=False
            ) from None

    def checkpoint(self) -> None:
        """Raise if the Execution was canceled or ran out of time; every SDK call starts here."""
        claim = self._claim
        if claim.cancel_requested is not None and not claim.shielded and not claim.canceled:
            if self.observe_cancel():
                raise ErrCanceled(
                    f'Execution "{self.name}" was canceled: {claim.cancel_requested.reason}',
                    retryable=False,
                )
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
        now = self._clock.now()
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

    def replay(self, name: str, kind: str) -> JournalEntry | None:
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
        if entry["kind"] == CANCEL_KIND:
            self._deliver_cancel()
        if entry["name"] != name or entry["kind"] != kind:
            raise ErrNonDeterminism(
                f'Execution "{self.name}" is not deterministic: at step {self._cursor + 1} the '
                f'journal recorded {entry["kind"]} "{entry["name"]}", but the code now asked for '
                f'{kind} "{name}". The function\'s code changed while the Execution was running, '
                "or its steps depend on values that are not recorded (time, randomness, "
                "environment): wrap those in kontinue.store(), or restore the code that started "
                "the Execution"
            )
        self._cursor += 1
        failed = "error" in entry or entry.get("failed")  # a raised error or a failed job
        if failed and entry.get("attempt", 0) < self.attempts():
            self._replacing[name] = (self._cursor - 1, entry["seq"])
            self._deliver_cancel()
            return None
        return entry

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
            if self._journal[self._cursor].get("kind") != CANCEL_KIND:
                return False
            self._cursor += 1
            claim.observed = True
            return True
        self.record(CANCEL_KIND, CANCEL_KIND, reason=request.reason)
        claim.observed = True
        self._cancel_children(request.reason)
        return True

    def _cancel_children(self, reason: str) -> None:
        from kontinue.runtime._operations import OperationError, cancel_execution, children_of

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

    def record(self, name: str, kind: str, **fields: Any) -> JournalEntry:
        """Append a completed step to the journal, durably, before the function goes on."""
        entry: JournalEntry = {
            "seq": self._raw_count,
            "name": name,
            "kind": kind,
            "time": self._clock.now().isoformat(),
            "attempt": self.attempts(),
        }
        entry.update({k: v for k, v in fields.items() if v is not None})
        replacing = self._replacing.pop(name, None)
        if replacing is not None:
            entry["replaces"] = replacing[1]
        self._claim.append(entry)
        self._raw_count += 1
        if replacing is not None:
            self._journal[replacing[0]] = entry
        else:
            self._journal.append(entry)
            self._cursor = len(self._journal)
        return entry

    def park(self, waiting_on: WaitingOn) -> NoReturn:
        """Release the Execution until `waiting_on` holds; the controller wakes it."""
        raise Park(waiting_on)

    def update_status(self, mutate: Callable[[Execution], bool | None]) -> None:
        """Change this Execution's status (message, progress) with compare-and-swap."""
        self._claim.write_status(mutate)

    def function_group(self, function: str) -> str | None:
        """The worker group a function registered in this process declares, if any."""
        if function not in self._registry:
            return None
        return self._registry.get(function).worker_group

    @property
    def progress_set_by_user(self) -> bool:
        """Whether the function set progress itself (then fan-outs leave it alone)."""
        return self._progress_set_by_user

    def retry_options(self) -> ExecutionRetry:
        """The retry options in force for this Execution (its spec, else the function's)."""
        return self._claim.retry

    def auto_progress(self, current: int, total: int) -> None:
        """Progress set by a fan-out; skipped if the function set progress itself.

        Also skipped while replaying: the run that recorded those steps wrote the same
        values already, and rewriting each one on every replay made a sequence of n
        children cost O(n^2) status writes.
        """
        if self._progress_set_by_user or self.replaying:
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
        self._progress_set_by_user = by_user


def _effective(raw: list[JournalEntry]) -> tuple[list[JournalEntry], int]:
    """The journal as replay sees it: entries that replaced a failed step take its place."""
    out: list[JournalEntry] = []
    position: dict[int, int] = {}
    for entry in raw:
        replaced = entry.get("replaces")
        if replaced is not None and replaced in position:
            index = position[replaced]
            out[index] = entry
        else:
            index = len(out)
            out.append(entry)
        position[entry["seq"]] = index
    return out, len(raw)
