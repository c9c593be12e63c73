"""The controller: wakes parked Executions, runs retries, timeouts, cancellation and mutexes.

It is level-triggered: every pass looks at the whole cached state and moves each Execution
one step towards where it should be, so a missed event or a crash never leaves one stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kontinue.api import (
    ErrorRecord,
    Execution,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    Function,
    Mutex,
    MutexSpec,
    ObjectMeta,
    Progress,
    Suspension,
)
from kontinue.runtime._cancel import cancel_mutation
from kontinue.runtime._cleanup import CleanupReconciler
from kontinue.runtime._clock import Clock, SystemClock
from kontinue.runtime._errors import (
    ErrAttemptTimeout,
    Error,
    ErrorKind,
    ErrOverallTimeout,
    error_to_record,
)
from kontinue.runtime._informer import INFORMED_KINDS, Informer
from kontinue.runtime._leader import Elector
from kontinue.runtime._mutex import (
    FUNCTION_KEY,
    MUTEX_KEY,
    WAITING_FOR_SLOT,
    WAITING_PREFIX,
    mutex_resource_name,
    semaphore_resource_name,
)
from kontinue.runtime._registry import Registry
from kontinue.runtime._schedules import ScheduleReconciler
from kontinue.store import AlreadyExistsError, ConflictError, NotFoundError, Store

__all__ = ["INFORMED_KINDS", "Controller"]

log = logging.getLogger("kontinue.controller")

JOB_POLL = timedelta(seconds=0.5)
RESYNC_SECONDS = 60.0
"""A full pass at least this often even when nothing changed (level-triggered safety)."""


class Controller:
    """Reconciles Executions, Suspensions and Mutexes in one namespace (or all).

    An Execution's retry and timeout come from its spec, else from its function's defaults:
    those of `registry` when the controller runs beside a worker, else those the workers
    published on the Function resources.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        namespace: str | None = None,
        runners: dict[str, Any] | None = None,
        registry: Registry | None = None,
        informer: Informer | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.runners = runners or {}
        self.registry = registry
        self.informer = informer or Informer(store, INFORMED_KINDS, namespace)
        self._published: dict[str, Function] = {}
        self.next_timer: datetime | None = None
        self._seen_changes = -1  # the informer's change count at the last pass
        self._resync_at = 0.0
        # Running jobs are polled every JOB_POLL of real time, whatever the clock says (a
        # job is a real process even under a frozen virtual clock).
        self._jobs_due: float | None = None
        # Suspensions seen resolved since the last pass (a sleep someone resumed early),
        # and whether sleeps must be read anyway (after a relist: changes may be missed).
        self._resolved_seen: set[tuple[str, str]] = set()
        self._relists_seen = -1
        self._recheck_sleeps = True
        self.informer.subscribe(self._noticed)
        self.schedules = ScheduleReconciler(store, self.clock, self.informer, self.runners)
        self.cleanup = CleanupReconciler(
            store, self.clock, self.informer, self._ttl, runners=self.runners
        )

    def run(
        self, stop: threading.Event, interval: float = 0.5, elector: Elector | None = None
    ) -> None:
        """Reconcile until `stop` is set, waking on changes and on timers.

        With an `elector`, only while it holds the leader lease: a second controller waits,
        keeping its cache current, and takes over when the leader's lease runs out.
        """
        while not stop.is_set():
            if elector is not None and not elector.leading():
                self.informer.sync()
                elector.wait_leading(interval)
                continue
            self.informer.sync()
            self.reconcile()
            wait = interval
            if self.next_timer is not None and not self.clock.virtual:
                wait = min(wait, max(0.0, (self.next_timer - self.clock.now()).total_seconds()))
            self.informer.sync(timeout=wait)

    def reconcile(self, *, force: bool = False) -> int:
        """One pass over the live work; returns how many writes it made.

        The pass is skipped when nothing changed since the last one, no timer is due and
        the periodic resync is not due either (unless `force`): so parked work costs
        nothing while it waits, however much of it there is.
        """
        self.informer.sync()
        now = self.clock.now()
        quiet = self.informer.changes == self._seen_changes
        timer_due = self.next_timer is not None and self.next_timer <= now
        mono = time.monotonic()
        jobs_due = self._jobs_due is not None and self._jobs_due <= mono
        if quiet and not (force or timer_due or jobs_due) and mono < self._resync_at:
            return 0
        self._seen_changes = self.informer.changes
        self._recheck_sleeps = self._relists_seen != self.informer.relists
        self._relists_seen = self.informer.relists
        self._resync_at = mono + RESYNC_SECONDS
        self._jobs_due = None
        self.next_timer = None
        self._published = {f.name: f for f in self.informer.of(Function)}
        unfinished = self.informer.unfinished()
        children: defaultdict[str, list[Execution]] = defaultdict(list)
        for ex in unfinished:
            for ref in ex.metadata.owner_references:
                if ref.kind == "Execution":
                    children[ref.uid].append(ex)
        writes = 0
        for ex in unfinished:
            try:
                writes += self._reconcile_one(ex, now, children)
            except (ConflictError, NotFoundError):
                writes += 1  # changed meanwhile; the next pass sees the new state
        for uid in list(children):
            owner: Execution | None = self.informer.by_uid(uid)
            try:
                if owner is None:  # the owner is gone: its dependents go with it
                    continue
                if owner.status.phase in ("Canceled", "Skipped"):
                    writes += self._cascade_cancel(owner, children)
                elif owner.status.phase == "Failed":  # nothing waits for them any more
                    writes += self._cancel_children(owner, children, "its parent failed")
            except (ConflictError, NotFoundError):
                writes += 1
        for ex in self.informer.of(Execution):
            stopped = ex.status.phase in ("Canceled", "Skipped")
            canceled = stopped and ex.status.waiting_on is not None
            if canceled:
                if self._cancel_jobs(ex):  # nothing left running: stop looking
                    writes += self._try(self._write, ex, _stop_waiting)
                else:
                    self._timer(now + JOB_POLL)  # look again then
                    self._poll_jobs_again()
        writes += self._reconcile_mutexes(unfinished, now)
        writes += self.schedules.reconcile(now, self._timer)
        writes += self.cleanup.reconcile(now, self._timer)
        self._resolved_seen.clear()  # this pass looked at each of them
        return writes

    def _noticed(self, obj: Any) -> None:
        if isinstance(obj, Suspension) and obj.status.resolved:
            self._resolved_seen.add((obj.metadata.namespace, obj.metadata.name))

    def _defaults(self, ex: Execution) -> tuple[ExecutionRetry | None, ExecutionTimeout | None]:
        """The retry and timeout defaults of the Execution's function."""
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            fdef = self.registry.get(name)
            return fdef.retry, fdef.timeout
        published: Function | None = self.informer.get(Function, ex.metadata.namespace, name)
        if published is None:
            published = self._published.get(name)  # published in another namespace
        if published is None:
            return None, None
        return published.spec.retry, published.spec.timeout

    def _ttl(self, ex: Execution) -> ExecutionTTL | None:
        """The clean-up in force: the spec's, else the function's default."""
        if ex.spec.ttl is not None:
            return ex.spec.ttl
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            return self.registry.get(name).ttl
        published: Function | None = self.informer.get(Function, ex.metadata.namespace, name)
        return published.spec.ttl if published is not None else None

    def _retry(self, ex: Execution) -> ExecutionRetry | None:
        """The retry options in force: the spec's, else the function's default."""
        return ex.spec.retry or self._defaults(ex)[0]

    def _timeout(self, ex: Execution) -> ExecutionTimeout | None:
        """The timeouts in force: the spec's, else the function's default."""
        return ex.spec.timeout or self._defaults(ex)[1]

    def _poll_jobs_again(self) -> None:
        self._jobs_due = time.monotonic() + JOB_POLL.total_seconds()

    def _timer(self, when: datetime) -> None:
        if self.next_timer is None or when < self.next_timer:
            self.next_timer = when

    # -- per Execution ----------------------------------------------------------------------

    def _reconcile_one(
        self, ex: Execution, now: datetime, children: dict[str, list[Execution]]
    ) -> int:
        st = ex.status
        ns = ex.metadata.namespace
        timeout = self._timeout(ex)
        if timeout and timeout.overall and st.start_time:
            deadline = st.start_time + timeout.overall
            if now >= deadline:
                err = ErrOverallTimeout(
                    f'Execution "{ex.metadata.name}" ran past its overall timeout '
                    f"({timeout.overall.total_seconds():g}s)"
                )
                return self._finish(ex, "Failed", error_to_record(err), children)
            self._timer(deadline)
        if st.cancel_requested is not None and not st.observed_cancel:
            asked = self._cancel_requested(ex, now)
            if asked is not None:
                return asked
        if st.phase == "Backoff":
            if st.backoff_until is None or st.backoff_until <= now:
                return self._write(ex, _retry_now)
            self._timer(st.backoff_until)
            return 0
        if st.phase != "Suspended":
            return 0
        if timeout and timeout.attempt and st.attempt_start_time:
            deadline = st.attempt_start_time + timeout.attempt
            if now >= deadline:
                return self._attempt_timed_out(ex, now, children)
            self._timer(deadline)
        waiting = st.waiting_on
        if waiting is None:
            return self._write(ex, _wake)
        if waiting.kind == "suspension":
            # A sleep: its end is known, so its Suspension is not read (nor cached: a parked
            # Execution costs its own cache entry only) unless someone resolved it early,
            # which the informer passes on as a change, or the cache was listed anew.
            sleeping = waiting.until is not None and waiting.until > now
            if (
                sleeping
                and not self._recheck_sleeps
                and not any((ns, n) in self._resolved_seen for n in waiting.names)
            ):
                assert waiting.until is not None
                self._timer(waiting.until)
                return 0
            return self._check_suspensions(ex, waiting.names, now, keep=waiting.until is None)
        if waiting.kind == "children":
            kids = [self.informer.fetch(Execution, ns, n) for n in waiting.names]
            done = [k is None or k.terminal for k in kids]
            failed = any(k is not None and k.status.phase in ("Failed", "Canceled") for k in kids)
            ready = all(done) or (waiting.mode == "any" and any(done)) or failed
            if ready:
                return self._write(ex, _wake)
            if waiting.progress_total:  # a fan-out: show its children finishing
                progress = Progress(
                    current=waiting.progress_done + sum(done), max=waiting.progress_total
                )
                if ex.status.progress != progress:
                    return self._write(ex, _show(progress))
            return 0
        if waiting.kind == "poll":
            if waiting.until is None or waiting.until <= now:
                return self._write(ex, _wake)
            self._timer(waiting.until)
            return 0
        if waiting.kind == "job":
            return self._check_jobs(ex, waiting.names, waiting.runner, now)
        return 0

    def _cancel_requested(self, ex: Execution, now: datetime) -> int | None:
        """A cancel was asked of an Execution that cleans up first and its function has not
        been told yet: stop the jobs it waits on, then wake it to run its clean-up."""
        st = ex.status
        if st.phase == "Backoff":
            return self._write(ex, _retry_now)
        if st.phase != "Suspended":
            return None
        if self._cancel_jobs(ex):
            return self._write(ex, _wake)
        self._timer(now + JOB_POLL)
        self._poll_jobs_again()
        return 0

    def _check_suspensions(
        self, ex: Execution, names: list[str], now: datetime, *, keep: bool = True
    ) -> int:
        ns = ex.metadata.namespace
        for name in names:
            sus: Suspension | None = self.informer.fetch(Suspension, ns, name, keep=keep)
            if sus is None or sus.status.resolved:
                continue
            if sus.spec.resume_at is not None:
                if sus.spec.resume_at <= now:
                    sus.status.resolved = True
                    sus.status.resolved_at = now
                    sus.status.resolved_by = "timer"
                    self.store.update_status(sus)
                    continue
                self._timer(sus.spec.resume_at)
            return 0
        return self._write(ex, _wake)

    def _check_jobs(
        self, ex: Execution, names: list[str], runner: str | None, now: datetime
    ) -> int:
        backend = self.runners.get(runner or "local")
        if backend is None:
            return 0
        for name in names:
            record = backend.poll(name, ex.metadata.namespace)
            if record is None:
                return self._job_lost(ex, name, now)
            if record.phase == "Running":
                self._timer(now + JOB_POLL)
                self._poll_jobs_again()
                return 0
        return self._write(ex, _wake)

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
        record = error_to_record(err)
        retry = self._retry(ex)
        if retry and ex.status.attempts < retry.retries:

            def backoff(e: Execution) -> None:
                e.status.phase = "Backoff"
                e.status.error = ErrorRecord.model_validate(record)
                e.status.message = f"attempt {e.status.attempts + 1} failed: {err}"
                e.status.backoff_until = now + (retry.backoff if retry else timedelta(0))
                e.status.waiting_on = None

            return self._write(ex, backoff)
        return self._finish(ex, "Failed", record, {})

    def _attempt_timed_out(
        self, ex: Execution, now: datetime, children: dict[str, list[Execution]]
    ) -> int:
        timeout = self._timeout(ex)
        assert timeout and timeout.attempt
        err = ErrAttemptTimeout(
            f'attempt {ex.status.attempts + 1} of Execution "{ex.metadata.name}" ran past its '
            f"attempt timeout ({timeout.attempt.total_seconds():g}s)"
        )
        retry = self._retry(ex)
        self._cancel_children(ex, children, "its parent's attempt timed out")
        self._cancel_jobs(ex)
        if retry and ex.status.attempts < retry.retries:
            record = error_to_record(err)

            def backoff(e: Execution) -> None:
                e.status.phase = "Backoff"
                e.status.error = ErrorRecord.model_validate(record)
                e.status.backoff_until = now + (retry.backoff if retry else timedelta(0))
                e.status.waiting_on = None

            return self._write(ex, backoff)
        return self._finish(ex, "Failed", error_to_record(err), children)

    def _finish(
        self,
        ex: Execution,
        phase: str,
        error: dict[str, Any],
        children: dict[str, list[Execution]],
    ) -> int:
        now = self.clock.now()

        def mutate(e: Execution) -> None:
            e.status.phase = phase  # type: ignore[assignment]
            e.status.error = ErrorRecord.model_validate(error)
            e.status.finish_time = now
            e.status.lease = None
            e.status.waiting_on = None

        writes = self._write(ex, mutate)
        return writes + self._cancel_children(ex, children, f"its parent {phase.lower()}")

    def _cascade_cancel(self, ex: Execution, children: dict[str, list[Execution]]) -> int:
        how = "skipped" if ex.status.phase == "Skipped" else "canceled"
        return self._cancel_children(ex, children, f"its parent was {how}")

    def _cancel_jobs(self, ex: Execution) -> bool:
        """Stop the jobs `ex` waits on; True once none of them runs any more."""
        waiting = ex.status.waiting_on
        if waiting is None or waiting.kind != "job":
            return True
        backend = self.runners.get(waiting.runner or "local")
        if backend is None:
            return False  # another process runs that runner; it will stop them
        stopped = True
        for name in waiting.names:
            record = backend.poll(name, ex.metadata.namespace)
            if record is not None and record.phase == "Running":
                backend.cancel(name, ex.metadata.namespace)
                stopped = False
        return stopped

    def _cancel_children(
        self, ex: Execution, children: dict[str, list[Execution]], why: str
    ) -> int:
        writes = 0
        for child in children.get(ex.metadata.uid or "", []):
            # one asked to cancel already runs its clean-up: only a new request stops it
            if not child.terminal and child.status.cancel_requested is None:
                mutate = cancel_mutation(self.clock.now(), f"canceled because {why}", strict=False)
                writes += self._write(child, mutate)
        return writes

    def _write(self, ex: Execution, mutate: Callable[[Execution], None]) -> int:
        draft = ex.model_copy(deep=True)
        mutate(draft)
        self.store.update_status(draft)
        return 1

    # -- mutexes ----------------------------------------------------------------------------

    def _limit(self, ex: Execution) -> int | None:
        """The concurrency limit of the Execution's function, if it has one."""
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            return self.registry.get(name).concurrency
        published: Function | None = self.informer.get(Function, ex.metadata.namespace, name)
        if published is None or published.spec.concurrency is None:
            return None
        return published.spec.concurrency.limit

    def _reconcile_mutexes(self, executions: list[Execution], now: datetime) -> int:
        """Grant mutexes and function slots first come, first served.

        A mutex has one holder; a function with `concurrency.limit` N has a semaphore of N
        slots. A holder keeps it until its Execution ends (canceled and deleted ones too). A
        function slot goes only to an Execution that already holds its mutex, so that no
        Execution sits on a slot while it waits for a mutex.
        """
        order = sorted(
            (e for e in executions if not e.terminal),
            key=lambda e: (e.metadata.creation_timestamp or now, e.metadata.name),
        )
        mutex_queues: defaultdict[tuple[str, str], list[Execution]] = defaultdict(list)
        for ex in order:
            if ex.spec.mutex is not None:
                mutex_queues[(ex.metadata.namespace, ex.spec.mutex.name)].append(ex)
        writes = 0
        wanted = {(ns, mutex_resource_name(k)) for (ns, k) in mutex_queues}
        holding: set[tuple[str, str]] = set()
        for (ns, key), queue in mutex_queues.items():
            waits, got = self._grant(ns, mutex_resource_name(key), queue, 1, {MUTEX_KEY: key})
            writes += waits
            holding.update((ns, n) for n in got)
            holder = got[0] if got else None
            for position, ex in enumerate(queue):
                if ex.metadata.name in got or ex.status.phase != "Pending":
                    continue
                message = f"{WAITING_PREFIX}{key} held by {holder} ({position} ahead in the queue)"
                if ex.status.message != message:
                    writes += self._try(self._write, ex, _say(message))
        fn_queues: defaultdict[tuple[str, str, int], list[Execution]] = defaultdict(list)
        for ex in order:
            limit = self._limit(ex)
            if limit is None:
                continue
            if (
                ex.spec.mutex is not None
                and (ex.metadata.namespace, ex.metadata.name) not in holding
            ):
                continue
            fn_queues[(ex.metadata.namespace, ex.spec.function, limit)].append(ex)
        for (ns, fn, limit), queue in fn_queues.items():
            name = semaphore_resource_name(fn)
            wanted.add((ns, name))
            waits, got = self._grant(ns, name, queue, limit, {FUNCTION_KEY: fn})
            writes += waits
            waiting = [e for e in queue if e.metadata.name not in got]
            for position, ex in enumerate(waiting, start=1):
                if ex.status.phase != "Pending":
                    continue
                message = (
                    f"{WAITING_FOR_SLOT}{fn} (concurrency limit {limit}, running: "
                    f"{', '.join(got)}; {position - 1} ahead in the queue)"
                )
                if ex.status.message != message:
                    writes += self._try(self._write, ex, _say(message))
        for mutex in self.informer.of(Mutex):  # nobody wants it any more: free it
            held = mutex.status.holders or mutex.status.holder
            if held and (mutex.metadata.namespace, mutex.metadata.name) not in wanted:
                draft = mutex.model_copy(deep=True)
                draft.status.holder = None
                draft.status.holders = []
                writes += self._try(self.store.update_status, draft)
        return writes

    def _grant(
        self, ns: str, name: str, queue: list[Execution], limit: int, annotations: dict[str, str]
    ) -> tuple[int, list[str]]:
        """Keep the holders still in `queue`, fill free places in queue order.

        Returns the writes made and the holders; until the Mutex resource exists (the first
        pass creates it) nobody holds it.
        """
        current: Mutex | None = self.informer.get(Mutex, ns, name)
        if current is None:
            meta = ObjectMeta(name=name, namespace=ns, annotations=annotations)
            return self._try(
                self.store.create, Mutex(metadata=meta, spec=MutexSpec(limit=limit))
            ), []
        names = [e.metadata.name for e in queue]
        held = current.status.holders or ([current.status.holder] if current.status.holder else [])
        holders = [h for h in held if h in names]
        for candidate in names:
            if len(holders) >= limit:
                break
            if candidate not in holders:
                holders.append(candidate)
        first = holders[0] if holders else None
        if holders == held and current.status.holder == first and current.spec.limit == limit:
            return 0, holders
        draft = current.model_copy(deep=True)
        draft.status.holders = holders
        draft.status.holder = holders[0] if holders else None
        writes = self._try(self.store.update_status, draft)
        if draft.spec.limit != limit:
            draft = self.store.get(Mutex, ns, name)
            draft.spec.limit = limit
            writes += self._try(self.store.update, draft)
        return writes, holders

    @staticmethod
    def _try(write: Callable[..., Any], *args: Any) -> int:
        try:
            write(*args)
            return 1
        except (ConflictError, AlreadyExistsError, NotFoundError):
            return 1


def _show(progress: Progress) -> Callable[[Execution], None]:
    def mutate(ex: Execution) -> None:
        ex.status.progress = progress

    return mutate


def _stop_waiting(ex: Execution) -> None:
    ex.status.waiting_on = None


def _wake(ex: Execution) -> None:
    ex.status.phase = "Pending"
    ex.status.waiting_on = None


def _retry_now(ex: Execution) -> None:
    ex.status.phase = "Pending"
    ex.status.attempts += 1
    ex.status.backoff_until = None
    ex.status.worker = None  # a new attempt: its first start is a resumption


def _say(message: str) -> Callable[[Execution], None]:
    def mutate(ex: Execution) -> None:
        ex.status.message = message

    return mutate
