"""The Function resource a worker publishes for each function it registers."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kontinue.api._execution import ExecutionRetry, ExecutionTimeout, ExecutionTTL
from kontinue.api._meta import Resource, WireModel

__all__ = [
    "Function",
    "FunctionConcurrency",
    "FunctionSource",
    "FunctionSpec",
    "Mutex",
    "MutexSpec",
    "MutexStatus",
]


class FunctionConcurrency(WireModel):
    """At most `limit` Executions of the function run at once, across all workers."""

    limit: int = Field(ge=1)


class FunctionSource(WireModel):
    """Where a function's code was imported from, so a later process can import it again.

    Either `file` (an absolute path to a `.py` file) or `module` (a dotted module name,
    found from the directory `path`).
    """

    file: str | None = None
    module: str | None = None
    path: str | None = None


class FunctionSpec(WireModel):
    """What a function does and which arguments it takes (as JSON Schema)."""

    description: str | None = None
    argument_schema: dict[str, Any] | None = None
    result_schema: dict[str, Any] | None = None
    worker_group: str = "default"
    retry: ExecutionRetry | None = None
    timeout: ExecutionTimeout | None = None
    ttl: ExecutionTTL | None = None
    concurrency: FunctionConcurrency | None = None
    source: FunctionSource | None = None


class Function(Resource):
    """A registered function (`kind: Function`), so tools can list what can run."""

    KIND: ClassVar[str] = "Function"
    PLURAL: ClassVar[str] = "functions"
    HAS_STATUS: ClassVar[bool] = False

    spec: FunctionSpec = Field(default_factory=FunctionSpec)


class MutexSpec(WireModel):
    """How many holders at once: 1 for a mutex, a function's limit for its semaphore."""

    limit: int = Field(default=1, ge=1)


class MutexStatus(WireModel):
    """Which Executions hold the mutex (or semaphore) now, in the order they got it.

    `holder` is the first of them, the one a plain mutex has.
    """

    holder: str | None = None
    holders: list[str] = Field(default_factory=list)


class Mutex(Resource):
    """The lock behind `ExecutionMutex` and function concurrency limits.

    Up to `spec.limit` holders at a time (one for a mutex), granted first come, first
    served; a holder keeps it until its Execution ends.
    """

    KIND: ClassVar[str] = "Mutex"
    PLURAL: ClassVar[str] = "mutexes"

    spec: MutexSpec = Field(default_factory=MutexSpec)
    status: MutexStatus = Field(default_factory=MutexStatus)
