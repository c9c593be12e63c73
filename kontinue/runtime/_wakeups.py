"""Wake-ups: a parked Execution goes back to Pending when what it waits on happened.

It waits on a sleep or a gate (Suspensions), on children, on a poll's next try, or on
jobs. The reconciler looks at a parked Execution when it changed, when its due time came,
when a Suspension or child it owns changed, and (jobs) every JOB_POLL of real time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kontinue.api import Execution, Progress, Suspension
from kontinue.runtime._cancellation import JOB_POLL
from kontinue.runtime._errors import Error, ErrorKind
from kontinue.runtime._reconciler import Pass, Reconciler, Shared, key_of, wake
from kontinue.runtime._retries import RetryReconciler
from kontinue.runtime._timers import Key

__all__ = ["WakeupReconciler"]


class WakeupReconciler(Reconciler):
    """Wakes parked Executions; shows a fan-out's progress while it waits."""

    def __init__(self, shared: Shared, retries: RetryReconciler) -> None:
        super().__init__(shared)
        self.retries = retries
        # Suspensions seen resolved since the last pass (a sleep someone resumed early),
        # and whether sleeps must be read anyway (after a relist: changes may be missed).
        self.resolved_seen: set[Key] = set()
        self.recheck_sleeps = True

    def noticed(self, obj: Any) -> None:
        """Note a Suspension someone resolved (a sleep may have been resumed early)."""
        if isinstance(obj, Suspension) and obj.status.resolved:
            self.resolved_seen.add(key_of(obj))

    def reconcile(self, ex: Execution, run: Pass) -> tuple[int, bool | None]:
        """Wake `ex` if what it waits on happened.

        Returns the writes made, and whether the jobs it waits on still run: None if not,
        False if they do and a watch tells when they change, True if they must be polled.
        """
        key = key_of(ex)
        waiting = ex.status.waiting_on
        if ex.status.phase != "Suspended":
            return 0, None
        if waiting is None:
            return self.write(ex, wake), None
        ns = ex.metadata.namespace
        if waiting.kind == "suspension":
            # A sleep: its end is known, so its Suspension is not read (nor cached: a parked
            # Execution costs its own cache entry only) unless someone resolved it early,
            # which the informer passes on as a change, or the cache was listed anew.
            sleeping = waiting.until is not None and waiting.until > run.now
            if (
                sleeping
                and not self.recheck_sleeps
                and not any((ns, n) in self.resolved_seen for n in waiting.names)
            ):
                assert waiting.until is not None
                run.timer(key, waiting.until)
                return 0, None
            return self._check_suspensions(ex, waiting.names, run, keep=waiting.until is None)
        if waiting.kind == "children":
            kids = [self.informer.fetch(Execution, ns, n) for n in waiting.names]
            done = [k is None or k.terminal for k in kids]
            failed = any(k is not None and k.status.phase in ("Failed", "Canceled") for k in kids)
            ready = all(done) or (waiting.mode == "any" and any(done)) or failed
            if ready:
                return self.write(ex, wake), None
            if waiting.progress_total:  # a fan-out: show its children finishing
                progress = Progress(
                    current=waiting.progress_done + sum(done), max=waiting.progress_total
                )
                if ex.status.progress != progress:
                    return self.write(ex, _show(progress)), None
            return 0, None
        if waiting.kind == "poll":
            if waiting.until is None or waiting.until <= run.now:
                return self.write(ex, wake), None
            run.timer(key, waiting.until)
            return 0, None
        if waiting.kind == "job":
            return self._check_jobs(ex, waiting.names, waiting.runner, run)
        return 0, None

    def _check_suspensions(
        self, ex: Execution, names: list[str], run: Pass, *, keep: bool = True
    ) -> tuple[int, bool | None]:
        ns = ex.metadata.namespace
        for name in names:
            sus: Suspension | None = self.informer.fetch(Suspension, ns, name, keep=keep)
            if sus is None or sus.status.resolved:
                continue
            if sus.spec.resume_at is not None:
                if sus.spec.resume_at <= run.now:
                    sus.status.resolved = True
                    sus.status.resolved_at = run.now
                    sus.status.resolved_by = "timer"
                    self.store.update_status(sus)
                    continue
                run.timer(key_of(ex), sus.spec.resume_at)
            return 0, None
        return self.write(ex, wake), None

    def _check_jobs(
        self, ex: Execution, names: list[str], runner: str | None, run: Pass
    ) -> tuple[int, bool | None]:
        backend = self.runners.get(runner or "local")
        if backend is None:
            return 0, None
        ns = ex.metadata.namespace
        for name in names:
            record = self.jobs.poll(runner, name, ns)
            if record is None:
                return self._job_lost(ex, name, run.now), None
            if record.phase == "Running":
                if self.jobs.watched(runner, ns):
                    return 0, False  # a change of the job wakes the controller
                run.timer(key_of(ex), run.now + JOB_POLL)
                return 0, True
        return self.write(ex, wake), None

    def _job_lost(self, ex: Execution, job: str, now: datetime) -> int:
        """A job the Execution waits on is gone (deleted, garbage-collected, its node lost):
        an infrastructure failure of the attempt, retried under the Execution's retry policy
        (a new attempt starts a new job), never re-created in a loop."""
        err = Error(
            f'job {job} of Execution "{ex.metadata.name}" disappeared before it finished '
            "(deleted, garbage-collected, or its node was lost)",
            kind=ErrorKind.INFRASTRUCTURE,
            retryable=True,
        )
        return self.retries.retry_or_fail(ex, err, now, say=True, cancel_children=False)


def _show(progress: Progress) -> Callable[[Execution], None]:
    def mutate(ex: Execution) -> None:
        ex.status.progress = progress

    return mutate
