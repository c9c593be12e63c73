"""What the API shows of a ScheduledExecution: its cron, zone, next and last run, and runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kontinue.api import Execution, ScheduledExecution
from kontinue.runtime._schedule_ops import TRIGGERED_BY_ANNOTATION, upcoming
from kontinue.runtime._schedules import SCHEDULE_LABEL
from kontinue.server._index import PIPELINE_LABEL, summary
from kontinue.server._index import _iso as iso
from kontinue.store import Store

__all__ = ["schedule_view"]

_RUNS_SHOWN = 20


def schedule_view(
    store: Store, se: ScheduledExecution, now: datetime, *, with_runs: bool = False
) -> dict[str, Any]:
    """A schedule, JSON-plain and camelCase; `with_runs`: its runs, newest first.

    The last run is the newest Execution the schedule started, by its cron or by hand, as
    long as it is kept (`historyLimit`); `status.lastExecution` when none is left.
    """
    meta, spec, st = se.metadata, se.spec, se.status
    runs = store.list(Execution, meta.namespace, {SCHEDULE_LABEL: meta.name})
    runs.sort(key=lambda e: (e.metadata.creation_timestamp is None, e.metadata.creation_timestamp))
    runs.reverse()
    last: dict[str, Any] | None = None
    if runs:
        newest = runs[0]
        last = {
            "name": newest.metadata.name,
            "phase": newest.status.phase,
            "created": iso(newest.metadata.creation_timestamp),
            "manual": TRIGGERED_BY_ANNOTATION in newest.metadata.annotations,
        }
    elif st.last_execution:
        last = {"name": st.last_execution, "phase": None, "created": iso(st.last_schedule_time)}
    view: dict[str, Any] = {
        "name": meta.name,
        "namespace": meta.namespace,
        "schedule": spec.schedule,
        "timezone": spec.timezone or "UTC",
        "function": spec.function,
        "pipeline": meta.labels.get(PIPELINE_LABEL),
        "description": spec.description,
        "suspended": spec.suspend,
        "concurrencyPolicy": spec.concurrency_policy,
        "historyLimit": spec.history_limit,
        "nextRun": iso(upcoming(se, now)),
        "lastScheduleTime": iso(st.last_schedule_time),
        "lastSuccessfulTime": iso(st.last_successful_time),
        "lastRun": last,
        "active": [e.metadata.name for e in runs if not e.terminal],
        "message": st.message,
        "created": iso(meta.creation_timestamp),
        "labels": dict(meta.labels),
        "resourceVersion": meta.resource_version,
    }
    if with_runs:
        view["arguments"] = spec.arguments
        view["runs"] = [summary(e) for e in runs[:_RUNS_SHOWN]]
        view["runCount"] = len(runs)
    return view
