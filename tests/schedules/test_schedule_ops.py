"""The schedule operations the CLI and the server share, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kontinue.api import ObjectMeta, ScheduledExecution, ScheduledExecutionSpec
from kontinue.runtime._schedule_ops import set_suspended, trigger_schedule, upcoming
from kontinue.runtime._schedules import SCHEDULE_LABEL
from kontinue.store import ConflictError, NotFoundError, open_store


def _schedule(name: str = "nightly", **spec: object) -> ScheduledExecution:
    return ScheduledExecution(
        metadata=ObjectMeta(name=name, labels={"team": "data"}),
        spec=ScheduledExecutionSpec(
            schedule="0 2 * * *", function="naps", arguments={"n": 1}, **spec
        ),
    )


class _RacedStore:
    """A real store whose next `update` of a schedule loses a race: just before it, another
    client (a second connection to the same file, as a controller in another process)
    writes the schedule's status, so the update carries a stale resourceVersion."""

    def __init__(self, path: Path, races: int) -> None:
        self.inner = open_store(path, create=True)
        self.other = open_store(path)
        self.races = races

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update(self, obj: ScheduledExecution) -> ScheduledExecution:
        if self.races:
            self.races -= 1
            current = self.other.get(ScheduledExecution, "default", obj.metadata.name)
            current.status.message = f"written by the controller ({self.races} races left)"
            self.other.update_status(current)
        return self.inner.update(obj)


def test_suspend_reads_again_when_a_controller_wrote_the_schedule_meanwhile(
    tmp_path: Path,
) -> None:
    store = _RacedStore(tmp_path / "state", races=3)
    store.create(_schedule())

    se, changed = set_suspended(store, "default", "nightly", True)  # type: ignore[arg-type]

    assert changed and se.spec.suspend is True
    stored = store.get(ScheduledExecution, "default", "nightly")
    assert stored.spec.suspend is True
    assert stored.status.message == "written by the controller (0 races left)"  # kept
    assert set_suspended(store, "default", "nightly", True)[1] is False  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        set_suspended(store, "default", "nobody", True)  # type: ignore[arg-type]


def test_suspend_gives_up_with_a_conflict_when_every_try_loses(tmp_path: Path) -> None:
    store = _RacedStore(tmp_path / "state", races=1000)
    store.create(_schedule())

    with pytest.raises(ConflictError, match='schedule "nightly" kept changing'):
        set_suspended(store, "default", "nightly", True)  # type: ignore[arg-type]
    assert store.get(ScheduledExecution, "default", "nightly").spec.suspend is False


def test_trigger_starts_a_labelled_run_with_the_schedules_spec(tmp_path: Path) -> None:
    store = open_store(tmp_path / "state", create=True)
    store.create(_schedule(suspend=True))

    run = trigger_schedule(store, "default", "nightly", "someone")
    again = trigger_schedule(store, "default", "nightly", "someone")

    assert run.metadata.name.startswith("nightly-manual-") and again.name != run.name
    assert run.metadata.labels == {"team": "data", SCHEDULE_LABEL: "nightly"}
    assert run.metadata.annotations["kontinue.cloud/triggered-by"] == "someone"
    assert (run.spec.function, run.spec.arguments) == ("naps", {"n": 1})
    assert store.get(ScheduledExecution, "default", "nightly").spec.suspend is True
    with pytest.raises(NotFoundError):
        trigger_schedule(store, "default", "nobody", "someone")
    store.close()


def test_upcoming_is_the_controllers_time_while_ahead_else_the_next_tick() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    se = _schedule(timezone="Europe/Berlin")
    assert upcoming(se, now) == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)  # 02:00 in Berlin
    se.status.next_schedule_time = now + timedelta(minutes=5)  # the controller's word
    assert upcoming(se, now) == now + timedelta(minutes=5)
    se.status.next_schedule_time = now - timedelta(days=3)  # stale: no controller ran
    assert upcoming(se, now) == datetime(2030, 1, 2, 1, 0, tzinfo=UTC)
    se.spec.suspend = True
    assert upcoming(se, now) is None
