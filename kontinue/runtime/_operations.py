"""Operations from outside a function: start, resume, cancel and retry Executions."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kontinue.api import (
    Error,
    ErrorKind,
    Execution,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionSpec,
    ExecutionTimeout,
    ExecutionTTL,
    Function,
    ObjectMeta,
    OnCancel,
    Suspension,
)
from kontinue.runtime._cancel import _AlreadyDone, cancel_mutation, on_cancel_of
from kontinue.runtime._clock import Clock, SystemClock
from kontinue.runtime._naming import check_execution_name, check_generate_name
from kontinue.runtime._registry import GROUP_LABEL
from kontinue.runtime._secrets import create_sealed, seal_by_schema
from kontinue.store import ConflictError, NotFoundError, Store, check_inputs

__all__ = [
    "GROUP_LABEL",
    "OperationError",
    "cancel_execution",
    "children_of",
    "function_group",
    "resume_execution",
    "retry_execution",
    "skip_execution",
    "start_execution",
]

PARENT_LABEL = "kontinue.cloud/parent"
"""Routes an Execution to the workers of one group: its function's published workerGroup."""


def function_group(store: Store, namespace: str, function: str) -> str | None:
    """The worker group the published Function `function` belongs to, if it is published."""
    try:
        return store.get(Function, namespace, function).spec.worker_group
    except NotFoundError:
        return None


class OperationError(Error):
    """An operation that does not apply (e.g. resuming a Completed Execution)."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


def start_execution(
    store: Store,
    function: str,
    arguments: Any = None,
    *,
    name: str | None = None,
    generate_name: str | None = None,
    namespace: str = "default",
    retry: ExecutionRetry | None = None,
    timeout: ExecutionTimeout | None = None,
    mutex: ExecutionMutex | None = None,
    ttl: ExecutionTTL | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    display_name: str | None = None,
    description: str | None = None,
    on_cancel: OnCancel | None = None,
) -> Execution:
    """Create a Pending Execution of `function` (named `name`, else `<function>-xxxxx`).

    `on_cancel` defaults to what the function declares for these arguments (`Cleanup` for a
    pipeline with `finally:` steps).

    Raises:
        Error: (Validation) the name or generate_name breaks Kubernetes' naming rules.
    """
    if name:
        check_execution_name(name)
    elif generate_name:
        check_generate_name(generate_name)
    labels = dict(labels or {})
    if GROUP_LABEL not in labels:  # only workers of the function's group may claim it
        group = function_group(store, namespace, function)
        if group is not None:
            labels[GROUP_LABEL] = group
    meta = ObjectMeta(
        name=name or "",
        generate_name=None if name else generate_name or _prefix_of(function),
        namespace=namespace,
        labels=labels,
        annotations=annotations or {},
    )
    # secret params/arguments (format: password, x-kontinue-secret) go to a secret of their own
    arguments, sealed = seal_by_schema(store, namespace, function, arguments)
    spec = ExecutionSpec(
        function=function,
        arguments=arguments,
        retry=retry,
        timeout=timeout,
        mutex=mutex,
        ttl=ttl,
        display_name=display_name,
        description=description,
        on_cancel=on_cancel or on_cancel_of(function, arguments),
    )
    return create_sealed(store, Execution(metadata=meta, spec=spec), sealed)


def _prefix_of(function: str) -> str:
    """`<function>-`, made a valid name prefix whatever the function's name."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", function.lower()).strip("-")[:50] or "execution"
    return prefix + "-"


def _mutate(
    store: Store, namespace: str, name: str, change: Callable[[Execution], None]
) -> Execution:
    for _ in range(20):
        ex = store.get(Execution, namespace, name)
        change(ex)
        try:
            return store.update_status(ex)
        except ConflictError:
            continue
    raise OperationError(f'Execution "{name}" keeps changing; try again')


def children_of(store: Store, ex: Execution) -> list[Execution]:
    """The Executions owned by `ex`."""
    uid = ex.metadata.uid
    return [
        c
        for c in store.list(Execution, ex.metadata.namespace, {PARENT_LABEL: ex.metadata.name})
        if any(ref.uid == uid for ref in c.metadata.owner_references)
    ]


def cancel_execution(
    store: Store,
    namespace: str,
    name: str,
    *,
    clock: Clock | None = None,
    why: str = "",
    runners: dict[str, Any] | None = None,
    force: bool = False,
) -> list[str]:
    """Cancel an Execution and its whole subtree; returns the names it canceled.

    An Execution that cleans up on cancel (`spec.onCancel: Cleanup`, a pipeline with
    `finally:`) is asked to: it runs its clean-up and then ends Canceled (see `_cancel.py`);
    a second cancel, or `force`, ends it at once. With `runners`, the jobs the canceled
    Executions wait on are stopped here and now, so a cancel stops the work even when no
    controller runs (after a killed `kontinue submit`).
    """
    now = (clock or SystemClock()).now()
    canceled: list[str] = []
    stopped: list[Execution] = []

    def visit(ex_name: str, reason: str) -> None:
        try:
            ex = _mutate(store, namespace, ex_name, cancel_mutation(now, reason, force=force))
            canceled.append(ex_name)
            stopped.append(ex)
        except _AlreadyDone:
            ex = store.get(Execution, namespace, ex_name)
            # A controller may pass the cancel on to a child before this loop reaches it:
            # it was still canceled by this request.
            ended = ex.status.finish_time
            if ex.status.phase == "Canceled" and ended is not None and ended >= now:
                canceled.append(ex_name)
        for child in children_of(store, ex):
            visit(child.metadata.name, f"canceled because its parent {ex_name} was canceled")

    root = store.get(Execution, namespace, name)
    if root.terminal:
        raise OperationError(
            f'Execution "{name}" is already {root.status.phase}; there is nothing to cancel'
        )
    visit(name, why or "canceled by request")
    if runners:
        _stop_jobs(store, stopped, runners)
    return canceled


def _stop_jobs(store: Store, executions: list[Execution], runners: dict[str, Any]) -> None:
    """Stop, all at once, the running jobs of canceled Executions that these runners reach."""
    targets: list[tuple[Any, str, str]] = []
    for ex in executions:
        waiting = ex.status.waiting_on
        if waiting is None or waiting.kind != "job":
            continue
        backend = runners.get(waiting.runner or "local")
        if backend is not None:
            targets.extend((backend, n, ex.metadata.namespace) for n in waiting.names)
    if not targets:
        return
    with ThreadPoolExecutor(min(8, len(targets))) as pool:
        list(pool.map(lambda t: t[0].cancel(t[1], t[2]), targets))
    for ex in executions:  # nothing left to stop: the controller need not look again
        if ex.status.waiting_on is not None and ex.status.waiting_on.kind == "job":
            with contextlib.suppress(Exception):
                _mutate(store, ex.metadata.namespace, ex.metadata.name, _no_waiting)


def _no_waiting(ex: Execution) -> None:
    ex.status.waiting_on = None
    if ex.status.phase == "Suspended":  # asked to cancel: its clean-up runs now
        ex.status.phase = "Pending"


def resume_execution(
    store: Store,
    namespace: str,
    name: str,
    suspension: str | None = None,
    *,
    clock: Clock | None = None,
    by: str = "kontinue resume",
    inputs: dict[str, Any] | None = None,
) -> list[str]:
    """Resolve the open Suspensions of an Execution (or the one named); returns their names.

    `inputs` are the values a gate with an inputs schema asks for; they are checked against
    it (a bad value leaves the gate open) and stored on the Suspension with who resolved it.

    Raises:
        OperationError: nothing to resume, or the inputs do not fit the gate's schema.
        NotFoundError: no such Execution or Suspension.
    """
    now = (clock or SystemClock()).now()
    ex = store.get(Execution, namespace, name)
    if suspension is not None:
        targets = [store.get(Suspension, namespace, suspension)]
        if targets[0].spec.execution != name:
            raise OperationError(
                f'Suspension "{suspension}" belongs to Execution "{targets[0].spec.execution}", '
                f'not to "{name}"'
            )
    else:
        targets = [
            s
            for s in store.list(Suspension, namespace, {"kontinue.cloud/execution": name})
            if not s.status.resolved
        ]
    if not targets:
        raise OperationError(
            f'Execution "{name}" is {ex.status.phase} and has no open suspension to resume'
        )
    if inputs is not None and len(targets) > 1:
        raise OperationError(
            f'Execution "{name}" has {len(targets)} open gates; name the one the inputs are for'
        )
    for sus in targets:
        if sus.status.resolved:
            raise OperationError(f'Suspension "{sus.metadata.name}" is already resolved')
        _check_inputs(sus, inputs)
    resolved = []
    for sus in targets:
        sus.status.resolved = True
        sus.status.resolved_at = now
        sus.status.resolved_by = by
        sus.status.inputs = inputs if sus.spec.inputs is not None else None
        store.update_status(sus)
        resolved.append(sus.metadata.name)
    return resolved


def _check_inputs(sus: Suspension, inputs: dict[str, Any] | None) -> None:
    from jsonschema import Draft202012Validator

    step = sus.spec.step
    if sus.spec.inputs is None:
        if inputs:
            raise OperationError(f'step "{step}" takes no inputs; resume it without --input')
        return
    check_inputs(sus.spec.execution, step, inputs or {})
    errors = list(Draft202012Validator(sus.spec.inputs).iter_errors(inputs or {}))
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or 'inputs'}: {e.message}" for e in errors
        )
        raise OperationError(f'the inputs for step "{step}" do not fit its schema: {problems}')


def retry_execution(store: Store, namespace: str, name: str) -> Execution:
    """Start a new attempt of a Failed (or Canceled) Execution, keeping its journal.

    Raises:
        OperationError: the Execution has not failed.
    """

    def change(ex: Execution) -> None:
        if ex.status.phase not in ("Failed", "Canceled"):
            raise OperationError(
                f'Execution "{name}" is {ex.status.phase}; only a Failed or Canceled Execution '
                "can be retried"
            )
        ex.status.phase = "Pending"
        ex.status.attempts += 1
        ex.status.cancel_requested = None  # a retried one goes on from before its cancel
        ex.status.observed_cancel = None
        ex.status.worker = None  # a new attempt: its first start is a resumption
        ex.status.finish_time = None
        ex.status.backoff_until = None
        ex.status.waiting_on = None
        ex.status.message = f"retry requested (attempt {ex.status.attempts + 1})"

    try:
        return _mutate(store, namespace, name, change)
    except NotFoundError:
        raise


def skip_execution(
    store: Store, namespace: str, name: str, *, clock: Clock | None = None, why: str = ""
) -> list[str]:
    """Mark an Execution `Skipped`: it ends without a result and its parent goes on as if it
    had completed; whatever it started is canceled. Returns the names it ended.

    Anything but a Completed or already Skipped Execution can be skipped: a step stuck in
    backoff, a sleep or gate nobody will resolve, or a failed child before its parent is
    retried (the retried parent then takes the skip instead of the failure).

    Raises:
        OperationError: the Execution is Completed or Skipped already.
        NotFoundError: no such Execution.
    """
    now = (clock or SystemClock()).now()

    def change(ex: Execution) -> None:
        if ex.status.phase in ("Completed", "Skipped"):
            raise OperationError(
                f'Execution "{name}" is already {ex.status.phase}; only an Execution that has '
                "not completed can be skipped"
            )
        ex.status.phase = "Skipped"
        ex.status.finish_time = now
        ex.status.lease = None
        ex.status.backoff_until = None
        ex.status.result = None
        ex.status.error = None
        ex.status.message = why or "skipped by request"

    ex = _mutate(store, namespace, name, change)
    ended = [name]
    for child in children_of(store, ex):
        if not child.terminal:
            ended += cancel_execution(
                store,
                namespace,
                child.metadata.name,
                clock=clock,
                why=f"canceled because its parent {name} was skipped",
            )
    return ended
