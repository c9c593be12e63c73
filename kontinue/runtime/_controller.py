"""The controller: runs the reconcilers over the shared informer, each on what it cares about.

Each concern is its own small reconciler: timeouts (`_timeouts`), retries (`_retries`),
wake-ups of parked Executions (`_wakeups`), cancellation (`_cancellation`), mutexes and
function slots (`_mutexes`), schedules (`_schedules`) and clean-up (`_cleanup`). The
controller routes the informer's changes to them: an Execution that changed is looked at,
with its owner (a parent waiting on its children, or to be canceled with it); a Suspension
that changed wakes its Execution; a Mutex or an Execution that wants one runs the mutex
reconciler. Due times (a sleep's end, a backoff, a deadline) sit in a timer heap keyed by
Execution, so a pass costs what changed or fell due, not what is parked.

It stays level-triggered where it matters: after a relist and when a Function changed (its
defaults apply to every Execution) a pass looks at every cached Execution, and at least
every RESYNC_SECONDS at every one that has no due time (one that has was looked at since
its last change), so a missed event or a crash never leaves one stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from kontinue.api import (
    Execution,
    Function,
    Mutex,
    ScheduledExecution,
    Suspension,
)
from kontinue.runtime._cancellation import JOB_POLL, CancelReconciler
from kontinue.runtime._cleanup import CleanupReconciler
from kontinue.runtime._clock import Clock, SystemClock
from kontinue.runtime._informer import INFORMED_KINDS, Informer
from kontinue.runtime._jobwatch import JobWatches
from kontinue.runtime._leader import Elector
from kontinue.runtime._mutexes import MutexReconciler
from kontinue.runtime._reconciler import FunctionDefaults, Pass, Shared, key_of
from kontinue.runtime._registry import Registry
from kontinue.runtime._retries import RetryReconciler
from kontinue.runtime._schedules import SCHEDULE_LABEL, ScheduleReconciler
from kontinue.runtime._timeouts import TimeoutReconciler
from kontinue.runtime._timers import Key, Timers
from kontinue.runtime._wakeups import WakeupReconciler
from kontinue.store import ConflictError, NotFoundError, Store, WatchEvent

__all__ = ["INFORMED_KINDS", "JOB_POLL", "Controller"]

log = logging.getLogger("kontinue.controller")

RESYNC_SECONDS = 60.0
"""A full pass at least this often even when nothing changed (level-triggered safety)."""


class Controller:
    """Reconciles Executions, Suspensions, Mutexes and schedules in one namespace (or all).

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
        inf = self.informer
        self.defaults = FunctionDefaults(inf, registry)
        self.jobs = JobWatches(self.runners)  # runners that can watch jobs are not polled
        shared = Shared(store, self.clock, inf, self.defaults, self.runners, self.jobs)
        self.cancel = CancelReconciler(shared)
        self.retries = RetryReconciler(shared, self.cancel)
        self.timeouts = TimeoutReconciler(shared, self.retries, self.cancel)
        self.wakeups = WakeupReconciler(shared, self.retries)
        self.mutexes = MutexReconciler(shared)
        self.schedules = ScheduleReconciler(store, self.clock, inf, self.runners)
        self.cleanup = CleanupReconciler(
            store, self.clock, inf, self.defaults.ttl, runners=self.runners
        )
        self.timers = Timers()
        self._dirty: set[Key] = set()  # Executions to look at in the next pass
        self._full = True  # the next pass looks at every cached Execution
        self._schedules_dirty = True
        self._other_at: datetime | None = None  # the schedules' and clean-up's next time
        self._relists_seen = -1
        self._resync_at = 0.0
        # Executions whose jobs run: looked at when a watched job changed, or every JOB_POLL
        # of real time for jobs that are polled, whatever the clock says (a job is a real
        # process even under a frozen virtual clock).
        self._polling: set[Key] = set()
        self._jobs_due: float | None = None
        self.looked_at = 0
        """How many Executions the passes looked at so far (what the work costs)."""
        inf.subscribe(self._noticed)
        inf.listen(self._changed)

    @property
    def next_timer(self) -> datetime | None:
        """When the next due time falls (None: nothing is due at any time)."""
        first = self.timers.next()
        other = self._other_at
        if first is None or (other is not None and other < first):
            return other
        return first

    def run(
        self, stop: threading.Event, interval: float = 0.5, elector: Elector | None = None
    ) -> None:
        """Reconcile until `stop` is set, waking on changes and on timers.

        With an `elector`, only while it holds the leader lease: a second controller waits,
        keeping its cache current, and takes over when the leader's lease runs out.
        """
        while not stop.is_set():
            if elector is not None and not elector.leading():
                self.standby()
                self.informer.sync()
                elector.wait_leading(interval)
                continue
            self.informer.sync()
            self.reconcile()
            wait = interval
            timer = self.next_timer
            if timer is not None and not self.clock.virtual:
                wait = min(wait, max(0.0, (timer - self.clock.now()).total_seconds()))
            self.jobs.wait(self.informer, wait, stop)

    def close(self) -> None:
        """Stop the job watches."""
        self.jobs.close()

    def standby(self) -> None:
        """Another controller leads: when this one leads again, its first pass is full."""
        self._full = True

    # -- routing changes --------------------------------------------------------------------

    def _noticed(self, obj: Any) -> None:
        """The informer took in `obj`: note who must look at it."""
        kind = obj.kind
        if kind == Execution.KIND:
            self._dirty.add(key_of(obj))
            self._owners_dirty(obj.metadata.namespace, obj.metadata.owner_references)
            self.mutexes.noticed(obj)
            if SCHEDULE_LABEL in obj.metadata.labels:
                self._schedules_dirty = True
        elif kind == Suspension.KIND:
            self.wakeups.noticed(obj)
            self._dirty.add((obj.metadata.namespace, obj.spec.execution))
        elif kind == Mutex.KIND:
            self.mutexes.dirty = True
        elif kind == Function.KIND:
            self._full = True  # its defaults (retry, timeout, limit) apply to every Execution
        elif kind == ScheduledExecution.KIND:
            self._schedules_dirty = True

    def _owners_dirty(self, namespace: str, refs: list[Any]) -> None:
        for ref in refs:
            kind = ref.get("kind") if isinstance(ref, dict) else ref.kind
            name = ref.get("name") if isinstance(ref, dict) else ref.name
            if kind == Execution.KIND and name:
                self._dirty.add((namespace, str(name)))

    def _changed(self, events: list[WatchEvent], relisted: bool) -> None:
        """Deletions (which the informer passes on only here) and relists."""
        if relisted:
            self._full = True
        for ev in events:
            if ev.type != "DELETED":
                continue
            key = (ev.namespace, ev.name)
            meta = ev.object.get("metadata") or {}
            if ev.kind == Execution.KIND:
                self._dirty.add(key)  # to drop its due time
                self._owners_dirty(ev.namespace, meta.get("ownerReferences") or [])
                self.mutexes.gone(key)
                self._schedules_dirty = True
            elif ev.kind == Suspension.KIND:
                execution = (ev.object.get("spec") or {}).get("execution")
                if execution:
                    self._dirty.add((ev.namespace, execution))
            elif ev.kind == Mutex.KIND:
                self.mutexes.dirty = True
            elif ev.kind == ScheduledExecution.KIND:
                self._schedules_dirty = True

    # -- a pass -----------------------------------------------------------------------------

    def reconcile(self, *, force: bool = False) -> int:
        """One pass over what changed or fell due; returns how many writes it made.

        Nothing is looked at when nothing changed, no time fell due and the periodic resync
        is not due either (unless `force`): so parked work costs nothing while it waits,
        however much of it there is.
        """
        self.informer.sync()
        now = self.clock.now()
        mono = time.monotonic()
        relisted = self._relists_seen != self.informer.relists
        anew = force or self._full or relisted  # everything may have changed meaning
        full = anew or mono >= self._resync_at
        jobs_due = self.jobs.take() or (self._jobs_due is not None and self._jobs_due <= mono)
        due = self.timers.pop_due(now)
        others = (
            full
            or self._schedules_dirty
            or (self._other_at is not None and self._other_at <= now)
            or self.cleanup.due(now)
        )
        if not (full or self._dirty or due or jobs_due or others or self.mutexes.dirty):
            return 0
        dirty = self._dirty
        dirty.update(due)
        self._dirty = set()
        self.wakeups.recheck_sleeps = relisted
        if full:
            self._full = False
            self._relists_seen = self.informer.relists
            self._resync_at = mono + RESYNC_SECONDS
            keys = self.informer.keys(Execution)
            if anew:
                self.mutexes.relisted(self.informer.unfinished())
            else:  # the periodic resync: what waits for a due time was looked at already
                keys = [k for k in keys if self.timers.get(k) is None]
            dirty.update(keys)
        if jobs_due:
            dirty |= self._polling
            self._polling = set()
            self._jobs_due = None
        self.defaults.refresh()
        run = Pass(now)
        writes = self._executions(dirty, run)
        if full or self.mutexes.dirty:
            writes += self.mutexes.reconcile(now)
        if others:
            self._schedules_dirty = False
            writes += self.schedules.reconcile(now, run.any_timer)
            writes += self.cleanup.reconcile(now, run.any_timer)
            self._other_at = run.other
        self.wakeups.resolved_seen.clear()  # this pass looked at each of them
        return writes

    def _executions(self, keys: set[Key], run: Pass) -> int:
        """Look at the Executions `keys`: their own progress, then their children."""
        writes = 0
        stopped: list[Execution] = []  # canceled ones whose jobs may still run
        owners: set[str] = set()
        for key in keys:
            ex: Execution | None = self.informer.get(Execution, *key)
            if ex is None:  # gone, or finished and out of the cache
                self.timers.set(key, None)
                continue
            self.looked_at += 1
            owners.add(ex.metadata.uid or "")
            owners.update(r.uid for r in ex.metadata.owner_references if r.kind == "Execution")
            if ex.terminal:
                if ex.status.waiting_on is not None:
                    stopped.append(ex)
                continue
            try:
                writes += self._progress(ex, run)
            except (ConflictError, NotFoundError):
                writes += 1  # changed meanwhile; the next pass sees the new state
        for uid in owners:
            owner: Execution | None = self.informer.by_uid(uid) if uid else None
            if owner is None or not self.informer.live_children(uid):
                continue  # an owner gone: its dependents go with it
            try:
                writes += self.cancel.reconcile_owner(owner)
            except (ConflictError, NotFoundError):
                writes += 1
        for ex in stopped:
            made, running = self.cancel.reconcile_stopped(ex, run)
            writes += made
            if running is not None:
                self._poll_jobs(key_of(ex), timed=running)
        for key in keys:
            self.timers.set(key, run.due.get(key))
        return writes

    def _progress(self, ex: Execution, run: Pass) -> int:
        """Timeouts first; then a retry due, or a wake-up: the first that writes ends it."""
        made = self.timeouts.overall(ex, run)
        if made is not None:
            return made
        made = self.cancel.reconcile_requested(ex, run)
        if made is not None:
            return made
        made = self.retries.reconcile(ex, run)
        if made is not None:
            return made
        if ex.status.phase != "Suspended":
            return 0
        made = self.timeouts.attempt(ex, run)
        if made is not None:
            return made
        made, running = self.wakeups.reconcile(ex, run)
        if running is not None:
            self._poll_jobs(key_of(ex), timed=running)
        return made

    def _poll_jobs(self, key: Key, *, timed: bool) -> None:
        """Look at `key` again when its jobs change: at the next JOB_POLL if `timed`, else
        when their watch says so."""
        self._polling.add(key)
        if timed and self._jobs_due is None:
            self._jobs_due = time.monotonic() + JOB_POLL.total_seconds()
