"""`@kontinue.function`: register a durable function, its types read from its type hints."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from kontinue.api import ExecutionRetry, ExecutionTimeout, ExecutionTTL, FunctionConcurrency
from kontinue.runtime import REGISTRY, FunctionDef, Registry, is_valid_step_name

__all__ = ["function"]

F = TypeVar("F", bound=Callable[..., Any])


def function(
    name: str,
    *,
    description: str | None = None,
    retry: ExecutionRetry | None = None,
    timeout: ExecutionTimeout | None = None,
    ttl: ExecutionTTL | None = None,
    concurrency: int | FunctionConcurrency | None = None,
    registry: Registry | None = None,
    worker_group: str | None = None,
) -> Callable[[F], F]:
    """Register `fn(ktx, args) -> result` as the durable function `name`.

    The argument type is the hint of the second parameter (a pydantic model, `dict`, or
    any type pydantic can validate); the result type is the return hint. Both are published
    as JSON Schema on the Function resource. A function may also take only `ktx`.

    Example:
        >>> @kontinue.function("deploy-service", retry=kontinue.RetryOptions(retries=3))
        ... def deploy(ktx: kontinue.ExecutionContext, args: DeployArgs) -> DeployResult: ...

    Args:
        name: the function's name, as given to `kontinue execute` and `spec.function`.
        description: shown by `kontinue functions` and the UI (default: the docstring).
        retry: default retry options for Executions of this function.
        timeout: default timeouts.
        ttl: default clean-up of finished Executions (archive and/or delete after a while).
        concurrency: at most this many Executions of the function run at once, across
            all workers (a number or `FunctionConcurrency(limit=N)`); the rest wait Pending.
        registry: where to register (default: the process-wide registry).
        worker_group: the group of workers that run it (published as the Function's
            `workerGroup`; its Executions carry `kontinue.cloud/worker-group` and only workers
            started with `--group` of that name claim them). Default: the group of the worker
            that registers it.
    """
    if not _valid_function_name(name):
        raise ValueError(
            f"function name {name!r} is not valid: use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (e.g. 'deploy-service')"
        )

    limit = concurrency.limit if isinstance(concurrency, FunctionConcurrency) else concurrency
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise ValueError(f"function {name!r}: concurrency must be 1 or more, not {limit!r}")

    def decorate(fn: F) -> F:
        params = list(inspect.signature(fn).parameters.values())
        if not params or len(params) > 2:
            raise TypeError(
                f"durable function {name!r} must take (ktx) or (ktx, args), "
                f"not {len(params)} parameters"
            )
        try:
            hints = typing.get_type_hints(fn)
        except NameError:  # types defined in a local scope, with postponed annotations
            hints = typing.get_type_hints(fn, localns=sys._getframe(1).f_locals)
        arg_type: Any = None
        call: Callable[..., Any]
        if len(params) == 2:
            arg_type = hints.get(params[1].name, dict)
            call = fn
        else:

            def call(ktx: Any, _args: Any) -> Any:
                return fn(ktx)

        result_type = hints.get("return")
        if result_type is type(None):
            result_type = None
        doc = inspect.getdoc(fn)
        definition = FunctionDef(
            name=name,
            fn=call,
            arg_type=arg_type,
            result_type=result_type,
            description=description or (doc.splitlines()[0] if doc else None),
            retry=retry,
            timeout=timeout,
            worker_group=worker_group,
            ttl=ttl,
            concurrency=limit,
            module=fn.__module__,
            origin=fn,
        )
        (registry or REGISTRY).register(definition)
        fn.__kontinue_function__ = definition  # type: ignore[attr-defined]
        return fn

    return decorate


def _valid_function_name(name: str) -> bool:
    return all(is_valid_step_name(part) for part in name.split(".")) and len(name) <= 253
