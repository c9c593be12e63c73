"""ScheduledExecution: Executions created on a cron schedule, as Argo's CronWorkflow does."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from kontinue.api._execution import (
    ExecutionMutex,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
)
from kontinue.api._meta import Resource, WireModel

__all__ = [
    "ConcurrencyPolicy",
    "ExecutionDefaults",
    "ScheduledExecution",
    "ScheduledExecutionSpec",
    "ScheduledExecutionStatus",
    "check_cron",
]

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]


def check_cron(expression: str) -> str:
    """Return `expression` if it is a 5-field cron expression; else raise ValueError.

    The message says what is wrong and how a valid one looks.
    """
    from cronsim import CronSim, CronSimError  # imported where schedules are used

    text = expression.strip()
    if len(text.split()) != 5:
        raise ValueError(
            f"schedule {expression!r} is not a 5-field cron expression "
            '(minute hour day-of-month month day-of-week), e.g. "0 2 * * *"'
        )
    try:
        CronSim(text, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"schedule {expression!r} is not a valid cron expression: {exc}") from None
    return text


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA time zone (e.g. Europe/Berlin); else raise ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone {name!r} is not an IANA time zone name; write e.g. UTC, "
            "Europe/Berlin or America/New_York"
        ) from None
    return name


class ExecutionDefaults(WireModel):
    """Retry, timeout and TTL given to every Execution a schedule creates."""

    retry: ExecutionRetry | None = None
    timeout: ExecutionTimeout | None = None
    ttl: ExecutionTTL | None = None


class ScheduledExecutionSpec(WireModel):
    """When to run which function with which arguments, and how many old runs to keep."""

    schedule: str
    function: str
    arguments: Any = Field(default_factory=dict)
    history_limit: int = Field(default=5, ge=0)
    suspend: bool = False
    execution_defaults: ExecutionDefaults | None = None
    timezone: str | None = None
    concurrency_policy: ConcurrencyPolicy = "Allow"
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    mutex: ExecutionMutex | None = None
    display_name: str | None = None
    description: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class ScheduledExecutionStatus(WireModel):
    """What the schedule did last and will do next."""

    last_schedule_time: datetime | None = None
    last_successful_time: datetime | None = None
    next_schedule_time: datetime | None = None
    active: list[str] = Field(default_factory=list)
    last_execution: str | None = None
    message: str | None = None


class ScheduledExecution(Resource):
    """Creates an Execution at every tick of a cron schedule (`kind: ScheduledExecution`)."""

    KIND: ClassVar[str] = "ScheduledExecution"
    PLURAL: ClassVar[str] = "scheduledexecutions"

    spec: ScheduledExecutionSpec
    status: ScheduledExecutionStatus = Field(default_factory=ScheduledExecutionStatus)
