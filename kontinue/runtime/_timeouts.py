"""Timeouts: an Execution past its overall timeout fails; a parked attempt past its attempt
timeout is retried or fails. Each deadline is a due time, so nothing is looked at before."""

from __future__ import annotations

from datetime import datetime, timedelta

from kontinue.api import Execution
from kontinue.runtime._cancellation import CancelReconciler
from kontinue.runtime._errors import ErrAttemptTimeout, ErrOverallTimeout, error_to_record
from kontinue.runtime._reconciler import Pass, Reconciler, Shared, key_of
from kontinue.runtime._retries import RetryReconciler

__all__ = ["TimeoutReconciler"]


class TimeoutReconciler(Reconciler):
    """Enforces `spec.timeout` (else the function's): overall, and per attempt while parked.

    A running attempt enforces its own attempt timeout (its lease renewals see it); the
    controller ends attempts that are parked.
    """

    def __init__(self, shared: Shared, retries: RetryReconciler, cancel: CancelReconciler) -> None:
        super().__init__(shared)
        self.retries = retries
        self.cancel = cancel

    @staticmethod
    def _past(ex: Execution, start: datetime | None, limit: timedelta | None, run: Pass) -> bool:
        """Whether `limit` from `start` has run out; if not, look again when it does."""
        if not start or not limit:  # no timeout (a zero one is none too)
            return False
        deadline = start + limit
        if run.now >= deadline:
            return True
        run.timer(key_of(ex), deadline)
        return False

    def overall(self, ex: Execution, run: Pass) -> int | None:
        """Fail `ex` if it ran past its overall timeout; None while it has not."""
        timeout = self.defaults.timeout(ex)
        if timeout is None or not self._past(ex, ex.status.start_time, timeout.overall, run):
            return None
        assert timeout.overall is not None
        err = ErrOverallTimeout(
            f'Execution "{ex.metadata.name}" ran past its overall timeout '
            f"({timeout.overall.total_seconds():g}s)"
        )
        return self.cancel.finish(ex, "Failed", error_to_record(err))

    def attempt(self, ex: Execution, run: Pass) -> int | None:
        """End the parked attempt of `ex` if it ran past its attempt timeout; else None."""
        timeout = self.defaults.timeout(ex)
        st = ex.status
        if timeout is None or not self._past(ex, st.attempt_start_time, timeout.attempt, run):
            return None
        assert timeout.attempt is not None
        err = ErrAttemptTimeout(
            f"attempt {st.attempts + 1} of Execution "
            f'"{ex.metadata.name}" ran past its attempt timeout '
            f"({timeout.attempt.total_seconds():g}s)"
        )
        self.cancel.cancel_children(ex, "its parent's attempt timed out")
        self.cancel.cancel_jobs(ex)
        return self.retries.retry_or_fail(ex, err, run.now, say=False, cancel_children=True)
