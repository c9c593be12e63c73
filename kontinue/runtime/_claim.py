"""A worker's hold on one Execution: its lease, fenced journal writes and status updates."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from kontinue.api import Execution, ExecutionRetry, ExecutionTimeout, Lease, StepEntry
from kontinue.runtime._clock import Clock
from kontinue.runtime._context import CancelScope
from kontinue.runtime._errors import ErrCanceled, Error, ErrorKind
from kontinue.runtime._secrets import mask
from kontinue.runtime._signals import Stop
from kontinue.store import (
    ConflictError,
    FencedError,
    NotFoundError,
    Store,
    ValueTooLargeError,
)

__all__ = ["Claim"]

_MAX_CAS_RETRIES = 50


class Claim:
    """The Execution a worker runs, guarded by its lease.

    Every write checks that this worker still holds the lease; when it does not (the lease
    expired and another worker took over, or the Execution was canceled) the function is
    unwound and nothing is written.
    """

    def __init__(
        self,
        store: Store,
        execution: Execution,
        holder: str,
        clock: Clock,
        lease_duration: timedelta,
        retry: ExecutionRetry,
        timeout: ExecutionTimeout,
    ) -> None:
        self.store = store
        self.execution = execution
        self.holder = holder
        self.clock = clock
        self.lease_duration = lease_duration
        self.retry = retry
        self.timeout = timeout
        self.lock = threading.RLock()
        self.secrets: list[str] = []
        """The secret values of the run: masked in every status and journal write."""
        st = execution.status
        self.attempt_deadline: datetime | None = (
            st.attempt_start_time + timeout.attempt
            if timeout.attempt and st.attempt_start_time
            else None
        )
        self.overall_deadline: datetime | None = (
            st.start_time + timeout.overall if timeout.overall and st.start_time else None
        )
        deadlines = [d for d in (self.attempt_deadline, self.overall_deadline) if d]
        self.scope = CancelScope(clock, min(deadlines) if deadlines else None)
        self.lost = False
        self.draining = False
        # cancel with clean-up (see _cancel.py): the request, whether this run delivered it
        # to the function (`observed`), whether steps run shielded from it, whether a forced
        # cancel ended the Execution (`canceled`), and whether to hand it back to be replayed
        # (a request that came in the middle of a replay is delivered by the next run)
        self.cancel_requested = execution.status.cancel_requested
        self.observed = False
        self.shielded = False
        self.canceled = False
        self.restart = False

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name) of the Execution."""
        return self.execution.metadata.namespace, self.execution.metadata.name

    def append(self, entry: StepEntry) -> None:
        """Append a journal entry, fenced by the lease."""
        if self.secrets:  # a step outcome that holds a secret value is journaled masked
            entry = type(entry).model_validate(mask(entry.wire(), self.secrets))
        try:
            self.store.append_journal(*self.key, entry.seq, entry, self.holder)
        except (FencedError, ConflictError) as exc:
            self._lose(str(exc), getattr(exc, "phase", None))
        except ValueTooLargeError as exc:  # the same value is as large on every retry
            raise Error(str(exc), kind=ErrorKind.VALIDATION, retryable=False) from None

    def _lose(self, reason: str, phase: str | None) -> None:
        self.lost = True
        if phase in ("Canceled", "Skipped"):
            self.scope.cancel(phase.lower())
            raise ErrCanceled(f'Execution "{self.key[1]}" was canceled', retryable=False)
        self.scope.cancel("taken over by another worker")
        raise Stop(reason)

    def write_status(self, mutate: Callable[[Execution], bool | None]) -> Execution:
        """Apply `mutate` to the status and write it with compare-and-swap.

        `mutate` may return False to skip the write. On a conflict the Execution is re-read;
        if this worker still holds it, the change is applied again, else the run is unwound.
        """
        with self.lock:
            current = self.execution
            for _ in range(_MAX_CAS_RETRIES):
                draft = current.model_copy(deep=True)
                if mutate(draft) is False:
                    return current
                if self.secrets:
                    self._mask(draft)
                try:
                    self.execution = self.store.update_status(draft)
                    return self.execution
                except ConflictError:
                    try:
                        current = self.store.get(Execution, *self.key)
                    except NotFoundError:
                        self._lose("the Execution was deleted", "Canceled")
                    self._check_owner(current)
                    self.execution = current
            raise Stop(f"could not write the status of {self.key[1]}: too many conflicts")

    def _mask(self, draft: Execution) -> None:
        """Mask the secret values in what the run leaves: result, message and error."""
        st = draft.status
        st.result = mask(st.result, self.secrets)
        st.message = mask(st.message, self.secrets)
        if st.error is not None:
            st.error = type(st.error).model_validate(mask(st.error.wire(), self.secrets))

    def _check_owner(self, current: Execution) -> None:
        lease = current.status.lease
        if current.status.phase != "Executing" or lease is None or lease.holder != self.holder:
            self._lose(
                f"Execution {self.key[1]} is now {current.status.phase}, held by "
                f"{lease.holder if lease else 'nobody'}",
                current.status.phase,
            )

    def renew(self) -> bool:
        """Extend the lease; False if it was lost (then the function is told to stop)."""
        now = self.clock.now()

        def extend(ex: Execution) -> bool:
            lease = ex.status.lease
            if ex.status.phase != "Executing" or lease is None or lease.holder != self.holder:
                return False  # the run already parked or finished: nothing left to renew
            ex.status.lease = Lease(
                holder=self.holder,
                acquire_time=lease.acquire_time,
                renew_time=now,
                expire_time=now + self.lease_duration,
            )
            return True

        patch = getattr(self.store, "renew_lease", None)
        if patch is not None:
            # A store that can renew with a fenced patch (Kubernetes) does not make the
            # renewal race the function's own journal writes for the resourceVersion.
            try:
                if patch(*self.key, self.holder, now, now + self.lease_duration):
                    return True
            except NotFoundError:
                pass
        try:
            self.write_status(extend)
            return True
        except (Stop, ErrCanceled):
            return False
