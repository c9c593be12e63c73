"""Child Executions: spawn, wait, execute, and fan-out in parallel or in sequence."""

from __future__ import annotations

from typing import Any

from kontinue.api import Execution, SpawnEntry, WaitEntry, WaitingOn
from kontinue.runtime import (
    PENDING,
    ErrChildCanceled,
    ErrChildFailed,
    ErrNonDeterminism,
    Error,
    ExecutionContext,
    Pending,
    error_from_record,
    error_to_record,
    step_runtime,
)
from kontinue.sdk._options import ChildExecution, ChildExecutionOptions, ExecuteOptions
from kontinue.sdk._values import from_json, to_json

__all__ = [
    "execute",
    "execute_parallel",
    "execute_sequential",
    "spawn_execution",
    "wait_any",
    "wait_execution",
]


def spawn_execution(
    ktx: ExecutionContext, function: str, args: Any = None, opts: ExecuteOptions | None = None
) -> ChildExecution:
    """Start a child Execution without waiting; on replay, return the existing child."""
    rt = step_runtime(ktx)
    options = opts or ExecuteOptions()

    def live(name: str) -> dict[str, Any]:
        child = rt.spawn_child(
            name,
            function,
            to_json(args),
            retry=options.retry,
            timeout=options.timeout,
            mutex=options.mutex,
            ttl=options.ttl,
            display_name=options.display_name,
            description=options.description,
        )
        return {
            "child": child,
            "function": function,
            "displayName": options.display_name,
            "description": options.description,
        }

    entry = rt.step(SpawnEntry, live, opts=opts, op="execute")
    return ChildExecution(name=entry.child, namespace=rt.namespace, step=entry.name)


def wait_execution(ktx: ExecutionContext, child: ChildExecution, *, result_type: Any = None) -> Any:
    """Wait for a spawned child to finish and return its result.

    Raises:
        ErrChildFailed: the child failed (its name and error are in the message).
        ErrChildCanceled: the child was canceled.
    """
    return _wait_all(ktx, [child], result_type)[0]


def wait_any(
    ktx: ExecutionContext, children: list[ChildExecution], *, result_type: Any = None
) -> tuple[ChildExecution, Any, Error | None]:
    """Wait until one of `children` has finished; return it, its result and its error.

    The first finished child in list order is recorded, so a replay sees the same one. A
    failed child is returned with its error, not raised: the caller decides (a DAG stops
    starting new steps but lets the running ones end). Under `childPolicy: RetryFailed` a
    retried parent re-runs a child that failed before, as `execute_parallel` does.
    """
    if not children:
        raise ValueError("wait_any needs at least one child")
    rt = step_runtime(ktx)

    def live(name: str) -> dict[str, Any] | WaitingOn:
        for child in children:
            ex = rt.child(child.name, child.namespace)
            if ex.terminal and not rt.retry_failed_child(ex):
                return {"child": child.name, **_outcome(ex)}
        return WaitingOn(kind="children", names=[c.name for c in children], step=name, mode="any")

    entry = rt.step(WaitEntry, live, kind="wait-any")
    step = entry.name
    chosen = next((c for c in children if c.name == entry.child), None)
    if chosen is None:
        raise ErrNonDeterminism(
            f'Execution "{ktx.name}" is not deterministic: step {step} recorded child '
            f'"{entry.child}", which is not among the children waited for now'
        )
    if entry.error is not None:
        return chosen, None, error_from_record(entry.error)
    return chosen, from_json(entry.result, result_type), None


def execute(
    ktx: ExecutionContext,
    function: str,
    args: Any = None,
    *,
    result_type: Any = None,
    opts: ExecuteOptions | None = None,
) -> Any:
    """Run a child Execution of `function` and return its result (typed by `result_type`)."""
    child = spawn_execution(ktx, function, args, opts)
    return wait_execution(ktx, child, result_type=result_type)


def execute_parallel(
    ktx: ExecutionContext, specs: list[ChildExecutionOptions], *, result_type: Any = None
) -> list[Any]:
    """Start every child in order, wait for all together; results in input order."""
    children = [spawn_execution(ktx, s.function, s.arguments, s.options) for s in specs]
    return _wait_all(ktx, children, result_type, progress=True)


def execute_sequential(
    ktx: ExecutionContext, specs: list[ChildExecutionOptions], *, result_type: Any = None
) -> list[Any]:
    """Run the children one after the other; results in input order."""
    rt = step_runtime(ktx)
    results = []
    for index, spec in enumerate(specs):
        rt.auto_progress(index, len(specs))
        child = spawn_execution(ktx, spec.function, spec.arguments, spec.options)
        results.append(wait_execution(ktx, child, result_type=result_type))
    if specs:
        rt.auto_progress(len(specs), len(specs))
    return results


def _wait_all(
    ktx: ExecutionContext,
    children: list[ChildExecution],
    result_type: Any,
    progress: bool = False,
) -> list[Any]:
    """Record each child's outcome in input order, parking until the rest are done."""
    rt = step_runtime(ktx)
    rt.checkpoint()
    outcomes: list[WaitEntry] = []
    pending: list[str] = []
    states: dict[str, Execution] = {}
    for child in children:
        if pending:
            pending.append(child.name)
            continue

        def live(_: str, child: ChildExecution = child) -> dict[str, Any] | Pending:
            ex = rt.child(child.name, child.namespace)
            states[child.name] = ex
            if rt.retry_failed_child(ex) or not ex.terminal:
                return PENDING
            return {"child": child.name, **_outcome(ex)}

        entry = rt.try_step(WaitEntry, live, name=f"wait/{child.name}")
        if entry is None:
            pending.append(child.name)
        else:
            outcomes.append(entry)
    if progress and children:
        done = len(outcomes) + sum(1 for n in pending if n in states and states[n].terminal)
        rt.auto_progress(done, len(children))
    if pending:
        # a failed child fails the fan-out now, whatever its index, not when the rest end
        failed = next((e for e in outcomes if e.error is not None), None)
        if failed is not None:
            raise error_from_record(failed.error)
        for name in pending[1:]:
            ex = states.get(name) or rt.child(name)
            if ex.status.phase in ("Failed", "Canceled") and not rt.retryable_later(ex):
                raise _child_error(ex)
        live_progress = progress and bool(children) and not rt.progress_set_by_user
        rt.park(
            WaitingOn(
                kind="children",
                names=pending,
                step=f"wait/{pending[0]}",
                progress_total=len(children) if live_progress else None,
                progress_done=len(outcomes),
            )
        )
    results = []
    for entry in outcomes:
        if entry.error is not None:
            raise error_from_record(entry.error)
        results.append(from_json(entry.result, result_type))
    return results


def _outcome(ex: Execution) -> dict[str, Any]:
    if ex.status.phase == "Completed":
        return {"result": ex.status.result}
    if ex.status.phase == "Skipped":  # a person skipped it: the parent goes on without a result
        return {"result": None, "skipped": True}
    return {"error": error_to_record(_child_error(ex))}


def _child_error(ex: Execution) -> Error:
    """The child's failure as its parent sees it, carrying the child's own error as cause.

    A failure of the child's function itself comes back as `ErrExecution` (also an instance
    of the user's exception class when that is loaded).
    """
    name = ex.metadata.name
    record = ex.status.error.wire() if ex.status.error else {"message": "no error recorded"}
    cause = error_from_record(record)
    if ex.status.phase == "Canceled":
        return ErrChildCanceled(f'child Execution "{name}" was canceled', child=name, cause=cause)
    return ErrChildFailed(
        f'child Execution "{name}" ({ex.spec.function}) failed', child=name, cause=cause
    )
