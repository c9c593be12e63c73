"""The Function resource a worker publishes for each function it registers."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kontinue.api._execution import ExecutionRetry, ExecutionTimeout
from kontinue.api._meta import Resource, WireModel

__all__ = ["Function", "FunctionSource", "FunctionSpec", "Mutex", "MutexStatus"]


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
    source: FunctionSource | None = None


class Function(Resource):
    """A registered function (`kind: Function`), so tools can list what can run."""

    KIND: ClassVar[str] = "Function"
    PLURAL: ClassVar[str] = "functions"
    HAS_STATUS: ClassVar[bool] = False

    spec: FunctionSpec = Field(default_factory=FunctionSpec)


class MutexStatus(WireModel):
    """Which Execution holds the mutex now."""

    holder: str | None = None


class Mutex(Resource):
    """The lock behind `ExecutionMutex`: one holder at a time, granted in creation order."""

    KIND: ClassVar[str] = "Mutex"
    PLURAL: ClassVar[str] = "mutexes"

    status: MutexStatus = Field(default_factory=MutexStatus)
