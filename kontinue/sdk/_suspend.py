"""Waiting steps: `sleep`, `suspend` (a manual gate) and `poll_until`, none holding a worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from kontinue.api import Execution, ObjectMeta, Suspension, SuspensionSpec, WaitingOn
from kontinue.runtime import ROOT_LABEL, ExecutionContext, child_resource_name, mask, root_label
from kontinue.sdk._options import PollOptions, SleepOptions, SuspendOptions
from kontinue.store import AlreadyExistsError

__all__ = ["EXECUTION_LABEL", "poll_until", "poll_until_named", "sleep", "sleep_named", "suspend"]

EXECUTION_LABEL = "kontinue.cloud/execution"


def sleep(ktx: ExecutionContext, duration: timedelta) -> None:
    """Pause the Execution for `duration`, durably: a restart does not sleep it all again.

    The worker is released while the Execution sleeps; `kontinue resume` ends it early.
    """
    sleep_named(ktx, SleepOptions(duration=duration))


def sleep_named(ktx: ExecutionContext, opts: SleepOptions) -> None:
    """`sleep` with a step name, display name and description."""
    name = ktx.step_name("sleep", opts)
    if ktx.replay(name, "sleep") is not None:
        return
    sus = _suspension(ktx, name, "Sleep", opts, ktx.now() + opts.duration)
    assert sus.spec.resume_at is not None
    if sus.status.resolved or sus.spec.resume_at <= ktx.now():
        ktx.record(name, "sleep", suspension=sus.metadata.name, **_resolution(sus))
        return
    ktx.park(
        WaitingOn(kind="suspension", names=[sus.metadata.name], until=sus.spec.resume_at, step=name)
    )


def suspend(ktx: ExecutionContext, opts: SuspendOptions | None = None) -> dict[str, Any]:
    """Wait until someone resolves the gate (`kontinue resume`, the UI or the API).

    Returns:
        How it was resolved, as journaled: ``resolvedBy``, ``resolvedAt`` and ``inputs`` (the
        values given, checked against `SuspendOptions.inputs_schema`; empty without one).
    """
    opts = opts or SuspendOptions()
    name = ktx.step_name("suspend", opts)
    entry = ktx.replay(name, "suspend")
    if entry is not None:
        return _returned(entry)
    sus = _suspension(ktx, name, "Suspend", opts, None)
    waiting = f"waiting for approval: {opts.display_name or name}"
    if sus.status.resolved:
        entry = ktx.record(name, "suspend", suspension=sus.metadata.name, **_resolution(sus))
        ktx.update_status(lambda ex: _clear_message(ex, waiting))
        return _returned(entry)
    ktx.update_status(lambda ex: setattr(ex.status, "message", waiting))
    ktx.park(WaitingOn(kind="suspension", names=[sus.metadata.name], step=name))


def poll_until(ktx: ExecutionContext, condition: Callable[[], bool], interval: timedelta) -> None:
    """Check `condition` every `interval` until it holds; the worker is free in between."""
    poll_until_named(ktx, condition, PollOptions(interval=interval))


def poll_until_named(
    ktx: ExecutionContext, condition: Callable[[], bool], opts: PollOptions
) -> None:
    """`poll_until` with a step name; the success is recorded, so replay does not poll."""
    name = ktx.step_name("poll", opts)
    if ktx.replay(name, "poll") is not None:
        return
    if condition():
        ktx.record(name, "poll", displayName=opts.display_name, description=opts.description)
        return
    ktx.park(WaitingOn(kind="poll", until=ktx.now() + opts.interval, step=name))


def _suspension(
    ktx: ExecutionContext,
    step: str,
    type_: Literal["Sleep", "Suspend"],
    opts: SleepOptions | SuspendOptions,
    resume_at: datetime | None,
) -> Suspension:
    ex = ktx.execution()
    name = child_resource_name(ex.metadata.name, step)
    sus = Suspension(
        metadata=ObjectMeta(
            name=name,
            namespace=ex.metadata.namespace,
            labels={EXECUTION_LABEL: ex.metadata.name, ROOT_LABEL: root_label(ex)},
            owner_references=[ex.owner_reference()],
        ),
        spec=SuspensionSpec(
            execution=ex.metadata.name,
            step=step,
            type=type_,
            resume_at=resume_at,
            # a gate's title built from a secret param shows ******
            display_name=mask(opts.display_name, ktx.secret_values()),
            description=mask(opts.description, ktx.secret_values()),
            inputs=getattr(opts, "inputs_schema", None),
        ),
    )
    try:
        return ktx.store_.create(sus)
    except AlreadyExistsError:
        return ktx.store_.get(Suspension, ex.metadata.namespace, name)


def _clear_message(ex: Execution, message: str) -> bool:
    if ex.status.message != message:
        return False
    ex.status.message = None
    return True


def _resolution(sus: Suspension) -> dict[str, Any]:
    at = sus.status.resolved_at
    return {
        "resolvedBy": sus.status.resolved_by or "timer",
        "resolvedAt": at.isoformat() if at else None,
        "displayName": sus.spec.display_name,
        "inputs": sus.status.inputs,
    }


def _returned(entry: dict[str, Any] | Any) -> dict[str, Any]:
    return {
        "resolvedBy": entry.get("resolvedBy"),
        "resolvedAt": entry.get("resolvedAt"),
        "inputs": dict(entry.get("inputs") or {}),
    }
