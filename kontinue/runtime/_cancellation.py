"""Cancellation: what ends with an Execution ends with it.

Unfinished children are canceled when their parent is canceled, skipped or fails (nothing
waits for them any more), and the jobs a canceled Execution waited on are stopped. The
reconciler looks at an Execution when it or one of its children changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kontinue.api import ErrorRecord, Execution
from kontinue.runtime._cancel import cancel_mutation
from kontinue.runtime._reconciler import Pass, Reconciler, key_of, next_attempt, wake

__all__ = ["JOB_POLL", "CancelReconciler"]

JOB_POLL = timedelta(seconds=0.5)
"""How often jobs that still run are looked at (in real time, also under a virtual clock)."""


class CancelReconciler(Reconciler):
    """Cancels the children of ended Executions and stops the jobs of canceled ones."""

    def reconcile_owner(self, owner: Execution) -> int:
        """Cancel the unfinished children of `owner` if it was canceled, skipped or failed."""
        if owner.status.phase in ("Canceled", "Skipped"):
            how = "skipped" if owner.status.phase == "Skipped" else "canceled"
            return self.cancel_children(owner, f"its parent was {how}")
        if owner.status.phase == "Failed":  # nothing waits for them any more
            return self.cancel_children(owner, "its parent failed")
        return 0

    def reconcile_stopped(self, ex: Execution, run: Pass) -> tuple[int, bool | None]:
        """Stop the jobs a canceled Execution waited on.

        Returns the writes made, and whether its jobs still run: None if not, False if
        they do and a watch tells when they change, True if they must be polled.
        """
        waiting = ex.status.waiting_on
        stopped = ex.status.phase in ("Canceled", "Skipped")
        if not stopped or waiting is None:
            return 0, None
        if self.cancel_jobs(ex):  # nothing left running: stop looking
            return self.attempt_write(self.write, ex, _stop_waiting), None
        if self.jobs.watched(waiting.runner, ex.metadata.namespace):
            return 0, False  # a change of its jobs wakes the controller
        run.timer(key_of(ex), run.now + JOB_POLL)  # look again then
        return 0, True

    def finish(
        self, ex: Execution, phase: str, error: dict[str, Any], *, children: bool = True
    ) -> int:
        """End `ex` in `phase` with `error`, and cancel its unfinished children (if `children`)."""
        now = self.clock.now()

        def mutate(e: Execution) -> None:
            e.status.phase = phase  # type: ignore[assignment]
            e.status.error = ErrorRecord.model_validate(error)
            e.status.finish_time = now
            e.status.lease = None
            e.status.waiting_on = None

        writes = self.write(ex, mutate)
        if not children:
            return writes
        return writes + self.cancel_children(ex, f"its parent {phase.lower()}")

    def cancel_jobs(self, ex: Execution) -> bool:
        """Stop the jobs `ex` waits on; True once none of them runs any more."""
        waiting = ex.status.waiting_on
        if waiting is None or waiting.kind != "job":
            return True
        backend = self.runners.get(waiting.runner or "local")
        if backend is None:
            return False  # another process runs that runner; it will stop them
        stopped = True
        for name in waiting.names:
            record = self.jobs.poll(waiting.runner, name, ex.metadata.namespace)
            if record is not None and record.phase == "Running":
                backend.cancel(name, ex.metadata.namespace)
                stopped = False
        return stopped

    def cancel_children(self, ex: Execution, why: str) -> int:
        """Cancel the unfinished children of `ex` (as the cache last saw them); one asked to
        cancel already runs its clean-up (`onCancel: Cleanup`): only a new request stops it."""
        writes = 0
        for child in self.informer.live_children(ex.metadata.uid or ""):
            if not child.terminal and child.status.cancel_requested is None:
                mutate = cancel_mutation(self.clock.now(), f"canceled because {why}", strict=False)
                writes += self.write(child, mutate)
        return writes

    def reconcile_requested(self, ex: Execution, run: Pass) -> int | None:
        """A cancel was asked of an Execution that cleans up first and its function was not
        told yet: stop the jobs it waits on, then wake it to run its clean-up (_cancel.py).
        None when there is nothing of the kind to do."""
        st = ex.status
        if st.cancel_requested is None or st.observed_cancel:
            return None
        if st.phase == "Backoff":
            return self.write(ex, next_attempt)
        if st.phase != "Suspended":
            return None
        if self.cancel_jobs(ex):
            return self.write(ex, wake)
        run.timer(key_of(ex), run.now + JOB_POLL)
        return 0


def _stop_waiting(ex: Execution) -> None:
    ex.status.waiting_on = None
