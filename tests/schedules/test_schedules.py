"""ScheduledExecution on virtual time: ticks, concurrency policies, outages, DST, history."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import kontinue
from kontinue.api import Execution, ScheduledExecution
from kontinue.runtime import Registry
from kontinue.runtime._schedules import SCHEDULE_LABEL, SCHEDULED_TIME_ANNOTATION
from kontinue.testing import Environment

REG = Registry()
START = datetime(2030, 1, 1, tzinfo=UTC)


@kontinue.function("sched-quick", registry=REG)
def quick(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    return kontinue.store(ktx, lambda: ktx.now().isoformat())


@kontinue.function("sched-slow", registry=REG)
def slow(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(minutes=12))
    return "done"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path / "state", registry=REG, start=START) as e:
        yield e


def runs(env: Environment, schedule: str = "every") -> list[Execution]:
    found = env.store.list(Execution, "default", {SCHEDULE_LABEL: schedule})
    return sorted(found, key=lambda e: e.metadata.annotations[SCHEDULED_TIME_ANNOTATION])


def due_times(env: Environment, schedule: str = "every") -> list[datetime]:
    return [
        datetime.fromisoformat(e.metadata.annotations[SCHEDULED_TIME_ANNOTATION])
        for e in runs(env, schedule)
    ]


def status(env: Environment, name: str = "every") -> Any:
    return env.store.get(ScheduledExecution, "default", name).status


def test_every_five_minutes_starts_exactly_twelve_runs_in_an_hour(env: Environment) -> None:
    env.schedule("every", "*/5 * * * *", "sched-quick", history_limit=100)
    env.advance(timedelta(hours=1))
    times = due_times(env)
    assert times == [START + timedelta(minutes=5 * i) for i in range(1, 13)]
    assert all(e.status.phase == "Completed" for e in runs(env))
    # every run was started at its own tick, and the names are schedule + scheduled minute
    first = runs(env)[0]
    assert first.metadata.name == f"every-{int(times[0].timestamp()) // 60}"
    assert first.status.start_time == times[0]
    st = status(env)
    assert st.last_schedule_time == START + timedelta(hours=1)
    assert st.last_successful_time == START + timedelta(hours=1)
    assert st.next_schedule_time == START + timedelta(hours=1, minutes=5)
    assert st.active == []


def test_forbid_skips_a_tick_while_the_previous_run_is_still_going(env: Environment) -> None:
    env.schedule(
        "every", "*/5 * * * *", "sched-slow", concurrency_policy="Forbid", history_limit=100
    )
    env.advance(timedelta(hours=1))
    minutes = [int((t - START).total_seconds() // 60) for t in due_times(env)]
    # each run sleeps 12 minutes: the two ticks that fall inside it are skipped
    assert minutes == [5, 20, 35, 50]
    spans = [(e.status.start_time, e.status.finish_time or env.clock.now()) for e in runs(env)]
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and start is not None and end <= start


def test_replace_cancels_the_running_one_and_starts_the_new_one(env: Environment) -> None:
    env.schedule(
        "every", "*/5 * * * *", "sched-slow", concurrency_policy="Replace", history_limit=100
    )
    env.advance(timedelta(minutes=31))
    found = runs(env)
    assert len(found) == 6
    assert [e.status.phase for e in found[:-1]] == ["Canceled"] * 5
    assert "concurrencyPolicy: Replace" in (found[0].status.message or "")
    assert found[-1].status.phase == "Suspended"  # the newest sleeps on
    assert status(env).active == [found[-1].metadata.name]


def test_allow_lets_runs_overlap(env: Environment) -> None:
    env.schedule("every", "*/5 * * * *", "sched-slow", history_limit=100)
    env.advance(timedelta(minutes=11))
    assert [e.status.phase for e in runs(env)] == ["Suspended", "Suspended"]
    assert len(status(env).active) == 2


@pytest.mark.parametrize(
    ("back_after", "deadline", "expected"),
    [
        (timedelta(hours=3, minutes=5), 600, [3]),  # 5 min late: inside the deadline
        (timedelta(hours=3, minutes=20), 600, []),  # 20 min late: skipped
        (timedelta(hours=3, minutes=20), None, [3]),  # no deadline: the latest only
    ],
)
def test_after_an_outage_at_most_one_missed_run_starts_and_only_inside_the_deadline(
    env: Environment, back_after: timedelta, deadline: int | None, expected: list[int]
) -> None:
    env.schedule(
        "every", "0 * * * *", "sched-quick", starting_deadline_seconds=deadline, history_limit=50
    )
    env.advance(timedelta(minutes=1))  # the controller saw the schedule; nothing due yet
    assert runs(env) == []
    env.clock.advance(back_after - timedelta(minutes=1))  # the controller is down meanwhile
    env.advance(timedelta(0))  # back: one pass
    hours = [int((t - START).total_seconds() // 3600) for t in due_times(env)]
    assert hours == expected
    if not expected:
        assert "startingDeadlineSeconds" in (status(env).message or "")
    # and the schedule carries on normally
    env.advance(timedelta(hours=1))
    assert [int((t - START).total_seconds() // 3600) for t in due_times(env)] == [*expected, 4]


@pytest.mark.parametrize(
    ("first_day", "change_day"),
    [(datetime(2030, 3, 29), 31), (datetime(2030, 10, 25), 27)],  # spring and autumn
    ids=["spring-forward", "fall-back"],
)
def test_a_daily_0230_run_in_a_dst_zone_runs_once_every_day(
    tmp_path: Path, first_day: datetime, change_day: int
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = first_day.replace(hour=12, tzinfo=berlin).astimezone(UTC)
    with Environment(tmp_path / "state", registry=REG, start=start) as env:
        env.schedule("daily", "30 2 * * *", "sched-quick", timezone="Europe/Berlin")
        env.advance(timedelta(days=4))
        local = [t.astimezone(berlin) for t in due_times(env, "daily")]
    assert [t.date() for t in local] == [
        (first_day + timedelta(days=1 + i)).date() for i in range(4)
    ]
    for t in local:
        expected = (3, 0) if t.day == change_day and t.month == 3 else (2, 30)
        assert (t.hour, t.minute) == expected, t


def test_suspend_stops_new_runs_and_resume_does_not_flood(env: Environment) -> None:
    env.schedule("every", "*/5 * * * *", "sched-quick", history_limit=100)
    env.advance(timedelta(minutes=10))
    assert len(runs(env)) == 2
    se = env.store.get(ScheduledExecution, "default", "every")
    se.spec.suspend = True
    env.store.update(se)
    env.advance(timedelta(minutes=30))
    assert len(runs(env)) == 2
    assert status(env).next_schedule_time is None
    assert "suspended" in (status(env).message or "")
    se = env.store.get(ScheduledExecution, "default", "every")
    se.spec.suspend = False
    env.store.update(se)
    env.advance(timedelta(0))
    assert len(runs(env)) == 3  # of the six missed ticks only the latest runs


def test_history_limit_keeps_the_newest_five(env: Environment) -> None:
    env.schedule("every", "*/5 * * * *", "sched-quick")
    env.advance(timedelta(hours=1))
    assert len(runs(env)) == 5
    minutes = [int((t - START).total_seconds() // 60) for t in due_times(env)]
    assert minutes == [40, 45, 50, 55, 60]


def test_executions_carry_the_schedules_defaults(env: Environment) -> None:
    env.schedule(
        "every",
        "*/5 * * * *",
        "sched-quick",
        {"x": 1},
        execution_defaults={
            "retry": {"retries": 2, "backoff": "30s"},
            "ttl": {"deleteAfter": "1h"},
        },
    )
    env.advance(timedelta(minutes=5))
    (run,) = runs(env)
    assert run.spec.arguments == {"x": 1}
    assert run.spec.retry is not None and run.spec.retry.retries == 2
    assert run.spec.ttl is not None and run.spec.ttl.delete_after == timedelta(hours=1)
