"""Option models of the SDK calls, each embedding `StepOptions` as the Go SDK does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kontinue.api import (
    Duration,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    FunctionConcurrency,
)
from kontinue.runtime import StepOptions

__all__ = [
    "ChildExecution",
    "ChildExecutionOptions",
    "ExecuteOptions",
    "ExecutionMutex",
    "ExecutionTTL",
    "FunctionConcurrency",
    "PollOptions",
    "RetryOptions",
    "SleepOptions",
    "StepOptions",
    "StoreOptions",
    "SuspendOptions",
    "TimeoutOptions",
]

RetryOptions = ExecutionRetry
"""Retry configuration: `retries` (default 0), `backoff` (default 5s), `child_policy`."""

TimeoutOptions = ExecutionTimeout
"""Timeouts: `attempt` (per attempt, retryable) and `overall` (not retryable)."""


class StoreOptions(StepOptions):
    """Options of `store_named`."""


class SleepOptions(StepOptions):
    """Options of `sleep_named`: the duration plus naming."""

    duration: Duration = timedelta(0)


class SuspendOptions(StepOptions):
    """Options of `suspend`: naming, what the approver sees, and what they must give.

    `inputs_schema` is a JSON Schema (type object); `kontinue resume --input k=v` is checked
    against it and `suspend` returns the values given.
    """

    inputs_schema: dict[str, Any] | None = None


class PollOptions(StepOptions):
    """Options of `poll_until_named`: the interval between checks plus naming."""

    interval: Duration = timedelta(seconds=10)


class ExecuteOptions(StepOptions):
    """Options of a child Execution; retry and timeout override the function's defaults."""

    retry: ExecutionRetry | None = None
    timeout: ExecutionTimeout | None = None
    mutex: ExecutionMutex | None = None
    ttl: ExecutionTTL | None = None
    """How long the child is kept after it finished (`deleteAfter`), once its root finished."""


class ChildExecutionOptions(BaseModel):
    """One child of `execute_parallel` / `execute_sequential`."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    function: str
    arguments: Any = None
    options: ExecuteOptions | None = None


class ChildExecution(BaseModel):
    """A reference to a spawned child Execution, returned by `spawn_execution`."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "default"
    step: str = Field(default="", repr=False)
