"""The registry of durable functions a worker can run, with their argument and result types."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from kontinue.api import (
    Error,
    ErrorKind,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    Function,
    FunctionConcurrency,
    FunctionSource,
    FunctionSpec,
    ObjectMeta,
)

__all__ = ["GROUP_LABEL", "REGISTRY", "FunctionDef", "Registry", "UnknownFunctionError"]

GROUP_LABEL = "kontinue.cloud/worker-group"
"""The label that tells which worker group may claim an Execution or serves a Function."""


class UnknownFunctionError(Error, LookupError):
    """No function of that name is registered."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


@dataclass(frozen=True)
class FunctionDef:
    """A registered function: name, callable, types and defaults."""

    name: str
    fn: Callable[..., Any]
    arg_type: Any = dict
    result_type: Any = None
    description: str | None = None
    retry: ExecutionRetry | None = None
    timeout: ExecutionTimeout | None = None
    ttl: ExecutionTTL | None = None
    concurrency: int | None = None
    worker_group: str | None = None
    module: str | None = None
    origin: Callable[..., Any] | None = None
    _adapters: dict[str, TypeAdapter[Any]] = field(default_factory=dict, compare=False)

    def _adapter(self, which: str) -> TypeAdapter[Any] | None:
        tp = self.arg_type if which == "arg" else self.result_type
        if tp is None:
            return None
        if which not in self._adapters:
            self._adapters[which] = TypeAdapter(tp)
        return self._adapters[which]

    def parse_arguments(self, arguments: Any) -> Any:
        """Turn JSON arguments into the function's argument type.

        Raises:
            ValueError: the arguments do not fit; the message lists every problem.
        """
        adapter = self._adapter("arg")
        if adapter is None:
            return arguments
        if arguments is None and self.arg_type is dict:
            return {}
        try:
            return adapter.validate_python({} if arguments is None else arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValueError(f"invalid arguments for function {self.name!r}: {problems}") from None

    def dump_result(self, value: Any) -> Any:
        """The JSON-plain form of a result."""
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        adapter = self._adapter("result")
        if adapter is not None:
            return adapter.dump_python(value, mode="json")
        return TypeAdapter(Any).dump_python(value, mode="json")

    def argument_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the arguments, published on the Function resource."""
        adapter = self._adapter("arg")
        return adapter.json_schema() if adapter is not None else None

    def resource(self, namespace: str, group: str, source: FunctionSource | None) -> Function:
        """The Function resource a worker or an importing CLI publishes for this function."""
        spec = FunctionSpec(
            description=self.description,
            argument_schema=self.argument_schema(),
            result_schema=self.result_schema(),
            worker_group=group,
            retry=self.retry,
            timeout=self.timeout,
            ttl=self.ttl,
            concurrency=None
            if self.concurrency is None
            else FunctionConcurrency(limit=self.concurrency),
            source=source,
        )
        meta = ObjectMeta(name=self.name, namespace=namespace, labels={GROUP_LABEL: group})
        return Function(metadata=meta, spec=spec)

    def result_schema(self) -> dict[str, Any] | None:
        """The JSON Schema of the result, if the function declares one."""
        adapter = self._adapter("result")
        try:
            return adapter.json_schema() if adapter is not None else None
        except Exception:  # some result types have no JSON Schema; that is fine
            return None


class Registry:
    """Functions by name. Registering a name twice from different code is an error."""

    def __init__(self) -> None:
        self._functions: dict[str, FunctionDef] = {}
        self._sources: dict[str, FunctionSource] = {}
        self._lock = threading.Lock()

    def set_source(self, name: str, source: FunctionSource) -> None:
        """Remember where function `name` was imported from (published on its Function)."""
        with self._lock:
            self._sources[name] = source

    def source(self, name: str) -> FunctionSource | None:
        """Where function `name` was imported from, if this process imported it by path."""
        return self._sources.get(name)

    def register(self, definition: FunctionDef) -> FunctionDef:
        """Add a function; re-registering the same callable (a module re-import) is allowed."""
        with self._lock:
            old = self._functions.get(definition.name)
            if old is not None and _origin(old) != _origin(definition):
                raise ValueError(
                    f"function {definition.name!r} is registered twice: by "
                    f"{_origin(old)} and by {_origin(definition)}; give one another name"
                )
            self._functions[definition.name] = definition
            return definition

    def get(self, name: str) -> FunctionDef:
        """Look a function up. Raises UnknownFunctionError naming the known ones."""
        try:
            return self._functions[name]
        except KeyError:
            known = ", ".join(sorted(self._functions)) or "none"
            raise UnknownFunctionError(
                f"unknown function {name!r} (registered: {known}); import the module that "
                "defines it with --import MODULE or --import FILE.py"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._functions)

    def all(self) -> list[FunctionDef]:
        """Every registered function, sorted by name."""
        return [self._functions[n] for n in self.names()]


def _origin(definition: FunctionDef) -> str:
    fn = definition.origin or definition.fn
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


REGISTRY = Registry()
"""The process-wide registry that `@kontinue.function` adds to."""
