"""Schedules: the reconciler that starts an Execution at each tick of a ScheduledExecution.

Each run is named after its schedule and its scheduled minute (`nightly-29413440`), so a
controller that crashes between creating a run and writing the schedule's status finds the
run again instead of starting it twice. After an outage at most one missed run is started:
the latest, and only if it is within `startingDeadlineSeconds` (when set).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kontinue.api import (
    Execution,
    ExecutionSpec,
    ObjectMeta,
    ScheduledExecution,
    ScheduledExecutionSpec,
)
from kontinue.runtime._cancel import on_cancel_of
from kontinue.runtime._cleanup import delete_execution
from kontinue.runtime._clock import Clock
from kontinue.runtime._informer import Informer
from kontinue.runtime._operations import OperationError, cancel_execution
from kontinue.runtime._secrets import create_like
from kontinue.store import AlreadyExistsError, ConflictError, NotFoundError, Store

__all__ = [
    "SCHEDULED_TIME_ANNOTATION",
    "SCHEDULE_LABEL",
    "ScheduleReconciler",
    "next_run",
    "run_name",
    "schedule_run",
]

log = logging.getLogger("kontinue.schedules")

SCHEDULE_LABEL = "kontinue.cloud/scheduled-by"
SCHEDULED_TIME_ANNOTATION = "kontinue.cloud/scheduled-time"

_MISSED_SCAN = timedelta(days=1)
"""How far back the search for the latest missed tick first looks."""


def next_run(spec: ScheduledExecutionSpec, after: datetime) -> datetime:
    """The first tick of `spec` strictly after `after` (UTC), in the schedule's time zone.

    Ticks follow the zone's wall clock the way Debian's cron does across DST changes: a
    time skipped by the spring change runs at the first minute after it, and a time that
    occurs twice in autumn runs once.
    """
    from cronsim import CronSim

    zone = ZoneInfo(spec.timezone or "UTC")
    tick: datetime = next(CronSim(spec.schedule, after.astimezone(zone)))
    return tick.astimezone(UTC)


def _latest_due(spec: ScheduledExecutionSpec, anchor: datetime, now: datetime) -> datetime | None:
    """The latest tick in (anchor, now], or None if there is none."""
    first = next_run(spec, anchor)
    if first > now:
        return None
    start = max(anchor, now - _MISSED_SCAN)
    latest = None
    tick = next_run(spec, start)
    while tick <= now:  # at most a day of ticks: 1,440 for `* * * * *`
        latest = tick
        tick = next_run(spec, tick)
    if latest is not None:
        return latest
    tick = first  # no tick in the last day: the schedule is sparse, walk from the anchor
    while True:
        following = next_run(spec, tick)
        if following > now:
            return tick
        tick = following


def run_name(schedule: str, at: datetime) -> str:
    """The deterministic name of the run scheduled at `at`: schedule name + its minute."""
    return f"{schedule}-{int(at.timestamp()) // 60}"


def schedule_run(
    se: ScheduledExecution, *, name: str | None = None, generate_name: str | None = None
) -> Execution:
    """The Execution a schedule starts (not yet stored): its function, arguments, defaults."""
    spec = se.spec
    defaults = spec.execution_defaults
    labels = {**se.metadata.labels, SCHEDULE_LABEL: se.metadata.name}
    meta = ObjectMeta(
        name=name or "",
        generate_name=None if name else generate_name,
        namespace=se.metadata.namespace,
        labels=labels,
    )
    return Execution(
        metadata=meta,
        spec=ExecutionSpec(
            function=spec.function,
            arguments=spec.arguments,
            retry=defaults.retry if defaults else None,
            timeout=defaults.timeout if defaults else None,
            ttl=defaults.ttl if defaults else None,
            mutex=spec.mutex,
            display_name=spec.display_name,
            description=spec.description,
            on_cancel=on_cancel_of(spec.function, spec.arguments),
        ),
    )


class ScheduleReconciler:
    """Starts the runs of every ScheduledExecution when they fall due; keeps its status."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        informer: Informer,
        runners: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.informer = informer
        self.runners = runners or {}

    def reconcile(self, now: datetime, timer: Callable[[datetime], None]) -> int:
        """One pass over every schedule; returns how many writes it made."""
        writes = 0
        for se in self.informer.of(ScheduledExecution):
            try:
                writes += self._one(se, now, timer)
            except (ConflictError, NotFoundError):
                writes += 1  # changed or deleted meanwhile: the next pass sees it
        return writes

    def _running(self, namespace: str, name: str) -> bool:
        cached: Execution | None = self.informer.get(Execution, namespace, name)
        if cached is None:  # just created (not seen yet), or deleted: ask the store
            try:
                cached = self.store.get(Execution, namespace, name)
            except NotFoundError:
                return False
        return not cached.terminal

    def _runs(self, se: ScheduledExecution) -> list[Execution]:
        return self.store.list(Execution, se.metadata.namespace, {SCHEDULE_LABEL: se.metadata.name})

    def _one(self, se: ScheduledExecution, now: datetime, timer: Callable[[datetime], None]) -> int:
        status = se.status.model_copy(deep=True)
        anchor = se.status.last_schedule_time or se.metadata.creation_timestamp or now
        writes = 0
        fired = False
        if se.spec.suspend:
            status.next_schedule_time = None
            status.message = "suspended: no runs are started until it is resumed"
        else:
            due = _latest_due(se.spec, anchor, now)
            if due is not None:
                writes += self._fire(se, due, now, status)
                fired = True
            following = next_run(se.spec, max(now, status.last_schedule_time or anchor))
            status.next_schedule_time = following
            timer(following)
        writes += self._track(se, status, fired)
        if status != se.status:
            se = se.model_copy(deep=True)
            se.status = status
            self.store.update_status(se)
            writes += 1
        return writes

    def _fire(self, se: ScheduledExecution, due: datetime, now: datetime, status: Any) -> int:
        spec = se.spec
        status.last_schedule_time = due
        late = (now - due).total_seconds()
        deadline = spec.starting_deadline_seconds
        if deadline is not None and late > deadline:
            status.message = (
                f"missed the run due at {due.isoformat()} by {late:.0f}s, more than "
                f"startingDeadlineSeconds ({deadline}); it was skipped"
            )
            return 0
        writes = 0
        active = [
            e
            for e in self.informer.unfinished()
            if e.metadata.namespace == se.metadata.namespace
            and e.metadata.labels.get(SCHEDULE_LABEL) == se.metadata.name
            and not any(r.kind == "Execution" for r in e.metadata.owner_references)
        ]
        if active and spec.concurrency_policy == "Forbid":
            names = ", ".join(e.metadata.name for e in active)
            status.message = (
                f"skipped the run due at {due.isoformat()}: {names} still running "
                "(concurrencyPolicy: Forbid)"
            )
            return 0
        if active and spec.concurrency_policy == "Replace":
            for old in active:
                try:
                    cancel_execution(
                        self.store,
                        old.metadata.namespace,
                        old.metadata.name,
                        clock=self.clock,
                        why=f"replaced by the run due at {due.isoformat()} "
                        "(concurrencyPolicy: Replace)",
                    )
                    writes += 1
                except (OperationError, NotFoundError):
                    pass  # it ended meanwhile
        name = run_name(se.metadata.name, due)
        run = schedule_run(se, name=name)
        run.metadata.annotations[SCHEDULED_TIME_ANNOTATION] = due.isoformat()
        try:
            create_like(self.store, se, run)  # with a copy of the schedule's secret arguments
            writes += 1
            log.info("schedule %s started %s (due %s)", se.metadata.name, name, due)
        except AlreadyExistsError:
            pass  # started before a crash: adopt it, never start it twice
        status.last_execution = name
        status.message = None
        if name not in status.active:
            status.active.append(name)
        return writes

    def _track(self, se: ScheduledExecution, status: Any, fired: bool) -> int:
        """Drop finished runs from `active`, note the last success, keep `historyLimit`.

        The store is read only when a run started or ended, so an idle schedule costs
        nothing but a look at the engine's cache.
        """
        ns = se.metadata.namespace
        running = [n for n in status.active if self._running(ns, n)]
        if running == status.active and not fired:
            return 0
        status.active = running
        finished = sorted(
            (e for e in self._runs(se) if e.terminal),
            key=lambda e: e.status.finish_time or e.metadata.creation_timestamp or _EPOCH,
        )
        succeeded = [e.status.finish_time for e in finished if e.status.phase == "Completed"]
        if any(succeeded):
            status.last_successful_time = max(t for t in succeeded if t is not None)
        writes = 0
        for old in finished[: max(0, len(finished) - se.spec.history_limit)]:
            try:
                delete_execution(self.store, ns, old.metadata.name, self.runners)
                writes += 1
            except NotFoundError:
                pass
        return writes


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
