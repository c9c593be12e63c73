"""Retries: an Execution whose backoff ran out goes back to Pending for its next attempt.

The reconciler also decides, for the failures the controller itself finds (a lost job, an
attempt past its timeout), whether the Execution retries after a backoff or fails.
"""

from __future__ import annotations

from datetime import datetime

from kontinue.api import ErrorRecord, Execution
from kontinue.runtime._cancellation import CancelReconciler
from kontinue.runtime._errors import Error, error_to_record
from kontinue.runtime._reconciler import Pass, Reconciler, Shared, key_of, next_attempt

__all__ = ["RetryReconciler"]


class RetryReconciler(Reconciler):
    """Starts the next attempt of an Execution in Backoff when its backoff ends."""

    def __init__(self, shared: Shared, cancel: CancelReconciler) -> None:
        super().__init__(shared)
        self.cancel = cancel

    def reconcile(self, ex: Execution, run: Pass) -> int | None:
        """Act on an Execution in Backoff; None if it is not in Backoff."""
        st = ex.status
        if st.phase != "Backoff":
            return None
        if st.backoff_until is None or st.backoff_until <= run.now:
            return self.write(ex, next_attempt)
        run.timer(key_of(ex), st.backoff_until)
        return 0

    def retry_or_fail(
        self, ex: Execution, err: Error, now: datetime, *, say: bool, cancel_children: bool
    ) -> int:
        """Back off for another attempt if the retry policy allows one, else fail.

        `say`: put the failure in the status message too; `cancel_children`: a failure
        also cancels the unfinished children.
        """
        record = error_to_record(err)
        retry = self.defaults.retry(ex)
        if retry and ex.status.attempts < retry.retries:
            backoff = retry.backoff

            def mutate(e: Execution) -> None:
                e.status.phase = "Backoff"
                e.status.error = ErrorRecord.model_validate(record)
                if say:
                    e.status.message = f"attempt {e.status.attempts + 1} failed: {err}"
                e.status.backoff_until = now + backoff
                e.status.waiting_on = None

            return self.write(ex, mutate)
        return self.cancel.finish(ex, "Failed", record, children=cancel_children)
