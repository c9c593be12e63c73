"""Child Executions: spawn, wait, execute, and fan-out in parallel or in sequence."""

from __future__ import annotations

import os
from typing import Any

from kontinue.api import Execution, ExecutionSpec, ObjectMeta, WaitingOn
from kontinue.runtime import (
    GROUP_LABEL,
    PARENT_LABEL,
    ROOT_LABEL,
    ErrChildCanceled,
    ErrChildFailed,
    ErrNonDeterminism,
    Error,
    ErrorKind,
    ExecutionContext,
    child_resource_name,
    error_from_record,
    error_to_record,
    function_group,
    on_cancel_of,
    retry_execution,
    root_label,
)
from kontinue.sdk._options import ChildExecution, ChildExecutionOptions, ExecuteOptions
from kontinue.sdk._values import from_json, to_json
from kontinue.store import AlreadyExistsError, ConflictError

__all__ = [
    "execute",
    "execute_parallel",
    "execute_sequential",
    "spawn_execution",
    "wait_any",
    "wait_execution",
]

STEP_LABEL = "kontinue.cloud/step"
RETRIED_FOR = "kontinue.cloud/retried-for-parent-attempt"
DEPTH_ANNOTATION = "kontinue.cloud/depth"
DEPTH_ENV = "KONTINUE_MAX_DEPTH"
DEFAULT_MAX_DEPTH = 64


def max_depth() -> int:
    """How deep a tree of Executions may grow (`KONTINUE_MAX_DEPTH`, default 64)."""
    try:
        return max(1, int(os.environ.get(DEPTH_ENV, DEFAULT_MAX_DEPTH)))
    except ValueError:
        return DEFAULT_MAX_DEPTH


def _depth(ex: Execution) -> int:
    try:
        return int(ex.metadata.annotations.get(DEPTH_ANNOTATION, "0"))
    except ValueError:
        return 0


def _chain(ktx: ExecutionContext, ex: Execution, shown: int = 6) -> str:
    """The functions from the root down to `ex`, the middle elided: `a -> b -> ... -> f`."""
    names = [ex.spec.function]
    current = ex
    while (parent := current.metadata.labels.get(PARENT_LABEL)) and len(names) < 1000:
        try:
            current = ktx.store_.get(Execution, ex.metadata.namespace, parent)
        except Exception:
            break
        names.append(current.spec.function)
    names.reverse()
    if len(names) > shown:
        names = [*names[: shown // 2], f"... {len(names) - shown} more ...", *names[-shown // 2 :]]
    return " -> ".join(names)


def spawn_execution(
    ktx: ExecutionContext, function: str, args: Any = None, opts: ExecuteOptions | None = None
) -> ChildExecution:
    """Start a child Execution without waiting; on replay, return the existing child."""
    step = ktx.step_name("execute", opts)
    entry = ktx.replay(step, "spawn")
    if entry is not None:
        return ChildExecution(name=entry["child"], namespace=ktx.namespace, step=step)
    parent = ktx.execution()
    depth = _depth(parent) + 1
    if depth > max_depth():
        raise Error(
            f'Execution "{parent.metadata.name}" cannot start a child of {function!r}: it would '
            f"be {depth} levels deep, past the limit of {max_depth()} ({DEPTH_ENV}). The chain: "
            f"{_chain(ktx, parent)} -> {function}. A function that executes itself needs a "
            "condition that ends the recursion",
            kind=ErrorKind.VALIDATION,
            retryable=False,
        )
    name = child_resource_name(parent.metadata.name, step)
    labels = {PARENT_LABEL: parent.metadata.name, STEP_LABEL: step, ROOT_LABEL: root_label(parent)}
    # the child goes to its own function's group, not its parent's
    group = function_group(ktx.store_, parent.metadata.namespace, function)
    if group is None:
        group = ktx.function_group(function)
    if group is not None:
        labels[GROUP_LABEL] = group
    opts = opts or ExecuteOptions()
    child = Execution(
        metadata=ObjectMeta(
            name=name,
            namespace=parent.metadata.namespace,
            labels=labels,
            # a child first started in this attempt is this attempt's run, not one to re-run
            annotations={
                DEPTH_ANNOTATION: str(depth),
                **({RETRIED_FOR: str(ktx.attempts())} if ktx.attempts() else {}),
            },
            owner_references=[parent.owner_reference()],
        ),
        spec=ExecutionSpec(
            function=function,
            arguments=to_json(args),
            retry=opts.retry,
            timeout=opts.timeout,
            mutex=opts.mutex,
            ttl=opts.ttl,
            display_name=opts.display_name,
            description=opts.description,
            on_cancel=on_cancel_of(function, args),
        ),
    )
    try:
        ktx.store_.create(child)
    except AlreadyExistsError:
        existing = ktx.store_.get(Execution, parent.metadata.namespace, name)
        if not any(r.uid == parent.metadata.uid for r in existing.metadata.owner_references):
            raise Error(
                f'cannot start child "{name}" of Execution "{parent.metadata.name}": an '
                "Execution of that name exists and belongs to someone else; rename the step",
                kind=ErrorKind.VALIDATION,
                retryable=False,
            ) from None
    ktx.record(
        step,
        "spawn",
        child=name,
        function=function,
        displayName=opts.display_name,
        description=opts.description,
    )
    return ChildExecution(name=name, namespace=parent.metadata.namespace, step=step)


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
    step = ktx.step_name("wait-any", None)
    entry = ktx.replay(step, "wait-any")
    if entry is None:
        for child in children:
            ex = ktx.store_.get(Execution, child.namespace, child.name)
            if ex.terminal and not _retry_failed_child(ktx, ex):
                entry = ktx.record(step, "wait-any", child=child.name, **_outcome(ex))
                break
        else:
            ktx.park(
                WaitingOn(kind="children", names=[c.name for c in children], step=step, mode="any")
            )
    chosen = next((c for c in children if c.name == entry["child"]), None)
    if chosen is None:
        raise ErrNonDeterminism(
            f'Execution "{ktx.name}" is not deterministic: step {step} recorded child '
            f'"{entry["child"]}", which is not among the children waited for now'
        )
    if "error" in entry:
        return chosen, None, error_from_record(entry["error"])
    return chosen, from_json(entry.get("result"), result_type), None


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
    results = []
    for index, spec in enumerate(specs):
        ktx.auto_progress(index, len(specs))
        child = spawn_execution(ktx, spec.function, spec.arguments, spec.options)
        results.append(wait_execution(ktx, child, result_type=result_type))
    if specs:
        ktx.auto_progress(len(specs), len(specs))
    return results


def _wait_all(
    ktx: ExecutionContext,
    children: list[ChildExecution],
    result_type: Any,
    progress: bool = False,
) -> list[Any]:
    """Record each child's outcome in input order, parking until the rest are done."""
    ktx.checkpoint()
    outcomes: list[dict[str, Any]] = []
    pending: list[str] = []
    states: dict[str, Execution] = {}
    for child in children:
        step = f"wait/{child.name}"
        if pending:
            pending.append(child.name)
            continue
        entry = ktx.replay(step, "wait")
        if entry is None:
            ex = ktx.store_.get(Execution, child.namespace, child.name)
            states[child.name] = ex
            if _retry_failed_child(ktx, ex):
                pending.append(child.name)
                continue
            if not ex.terminal:
                pending.append(child.name)
                continue
            entry = ktx.record(step, "wait", child=child.name, **_outcome(ex))
        outcomes.append(entry)
    if progress and children:
        done = len(outcomes) + sum(1 for n in pending if n in states and states[n].terminal)
        ktx.auto_progress(done, len(children))
    if pending:
        # a failed child fails the fan-out now, whatever its index, not when the rest end
        failed = next((e for e in outcomes if "error" in e), None)
        if failed is not None:
            raise error_from_record(failed["error"])
        for name in pending[1:]:
            ex = states.get(name) or ktx.store_.get(Execution, ktx.namespace, name)
            if ex.status.phase in ("Failed", "Canceled") and not _retryable_later(ktx, ex):
                raise _child_error(ex)
        live = progress and bool(children) and not ktx.progress_set_by_user
        ktx.park(
            WaitingOn(
                kind="children",
                names=pending,
                step=f"wait/{pending[0]}",
                progress_total=len(children) if live else None,
                progress_done=len(outcomes),
            )
        )
    results = []
    for entry in outcomes:
        if "error" in entry:
            raise error_from_record(entry["error"])
        results.append(from_json(entry.get("result"), result_type))
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


def _retryable_later(ktx: ExecutionContext, ex: Execution) -> bool:
    return (
        ktx.attempts() > 0
        and ktx.retry_options().child_policy == "RetryFailed"
        and ex.metadata.annotations.get(RETRIED_FOR) != str(ktx.attempts())
    )


def _retry_failed_child(ktx: ExecutionContext, ex: Execution) -> bool:
    """Under `childPolicy: RetryFailed`, a retried parent re-runs a child that failed."""
    if ktx.attempts() == 0 or ex.status.phase not in ("Failed", "Canceled"):
        return False
    if not _retryable_later(ktx, ex):
        return False
    # Retry first, then mark: a crash in between costs at most one extra re-run of the
    # child, never the re-run itself (marking first could lose it).
    retried = retry_execution(ktx.store_, ex.metadata.namespace, ex.metadata.name)
    for _ in range(10):
        retried.metadata.annotations[RETRIED_FOR] = str(ktx.attempts())
        try:
            ktx.store_.update(retried)
            break
        except ConflictError:  # a worker already claimed it: mark the newer version
            retried = ktx.store_.get(Execution, ex.metadata.namespace, ex.metadata.name)
    return True
