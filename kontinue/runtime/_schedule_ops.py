"""What a person does to a ScheduledExecution: suspend, resume, run now, see when it runs next.

One implementation for every front end: `kontinue schedule suspend|resume|trigger` and the
server's `/api/v1/schedules` call these.
"""

from __future__ import annotations

from datetime import datetime

from kontinue.api import Execution, ScheduledExecution
from kontinue.runtime._schedules import next_run, schedule_run
from kontinue.runtime._secrets import create_like
from kontinue.store import ConflictError, Store

__all__ = ["TRIGGERED_BY_ANNOTATION", "set_suspended", "trigger_schedule", "upcoming"]

TRIGGERED_BY_ANNOTATION = "kontinue.cloud/triggered-by"
_TRIES = 10


def set_suspended(
    store: Store, namespace: str, name: str, suspend: bool
) -> tuple[ScheduledExecution, bool]:
    """Suspend (no new runs) or resume a schedule; runs already going are not touched.

    Returns the schedule as stored and whether it changed (False: it already was so).
    A concurrent write of the schedule (its controller's status) is read again and retried.

    Raises:
        NotFoundError: no such schedule.
        ConflictError: it kept changing under every one of several tries.
    """
    for _ in range(_TRIES):
        se = store.get(ScheduledExecution, namespace, name)
        if se.spec.suspend == suspend:
            return se, False
        se.spec.suspend = suspend
        try:
            return store.update(se), True
        except ConflictError:
            continue
    raise ConflictError(
        f'schedule "{name}" kept changing while it was being '
        f"{'suspended' if suspend else 'resumed'}; try again"
    )


def trigger_schedule(store: Store, namespace: str, name: str, by: str) -> Execution:
    """Start a run of the schedule now, outside its cron times (as Argo's `submit --from
    cronwf`): named `NAME-manual-xxxxx`, with the schedule's function, arguments and
    defaults, labelled as its run (so its history limit counts it) and annotated with `by`.

    Raises:
        NotFoundError: no such schedule.
    """
    se = store.get(ScheduledExecution, namespace, name)
    run = schedule_run(se, generate_name=f"{se.metadata.name}-manual-")
    run.metadata.annotations[TRIGGERED_BY_ANNOTATION] = by
    return create_like(store, se, run)  # with a copy of the schedule's secret arguments


def upcoming(se: ScheduledExecution, now: datetime) -> datetime | None:
    """When the schedule runs next (UTC), or None while it is suspended.

    The controller's `status.nextScheduleTime` when it is still ahead; else (no controller
    ran it yet, or it was down) the next tick of the cron expression after `now`.
    """
    if se.spec.suspend:
        return None
    noted = se.status.next_schedule_time
    if noted is not None and noted > now:
        return noted
    return next_run(se.spec, now)
