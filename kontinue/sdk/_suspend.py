"""Waiting steps: `sleep`, `suspend` (a manual gate) and `poll_until`, none holding a worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kontinue.api import PollEntry, Suspension, SuspensionEntry, WaitingOn
from kontinue.runtime import ExecutionContext, step_runtime
from kontinue.sdk._options import PollOptions, SleepOptions, SuspendOptions

__all__ = ["poll_until", "poll_until_named", "sleep", "sleep_named", "suspend"]


def sleep(ktx: ExecutionContext, duration: timedelta) -> None:
    """Pause the Execution for `duration`, durably: a restart does not sleep it all again.

    The worker is released while the Execution sleeps; `kontinue resume` ends it early.
    """
    sleep_named(ktx, SleepOptions(duration=duration))


def sleep_named(ktx: ExecutionContext, opts: SleepOptions) -> None:
    """`sleep` with a step name, display name and description."""
    rt = step_runtime(ktx)

    def live(name: str) -> dict[str, Any] | WaitingOn:
        sus = rt.suspension(
            name,
            "Sleep",
            resume_at=rt.now() + opts.duration,
            display_name=opts.display_name,
            description=opts.description,
        )
        assert sus.spec.resume_at is not None
        if sus.status.resolved or sus.spec.resume_at <= rt.now():
            return {"suspension": sus.metadata.name, **_resolution(sus)}
        return WaitingOn(
            kind="suspension", names=[sus.metadata.name], until=sus.spec.resume_at, step=name
        )

    rt.step(SuspensionEntry, live, kind="sleep", opts=opts)


def suspend(ktx: ExecutionContext, opts: SuspendOptions | None = None) -> dict[str, Any]:
    """Wait until someone resolves the gate (`kontinue resume`, the UI or the API).

    Returns:
        How it was resolved, as journaled: ``resolvedBy``, ``resolvedAt`` and ``inputs`` (the
        values given, checked against `SuspendOptions.inputs_schema`; empty without one).
    """
    opts = opts or SuspendOptions()
    rt = step_runtime(ktx)

    def live(name: str) -> dict[str, Any] | WaitingOn:
        sus = rt.suspension(
            name,
            "Suspend",
            display_name=opts.display_name,
            description=opts.description,
            inputs=opts.inputs_schema,
        )
        waiting = f"waiting for approval: {opts.display_name or name}"
        if sus.status.resolved:
            rt.set_message(None, only_if=waiting)
            return {"suspension": sus.metadata.name, **_resolution(sus)}
        rt.set_message(waiting)
        return WaitingOn(kind="suspension", names=[sus.metadata.name], step=name)

    entry = rt.step(SuspensionEntry, live, kind="suspend", opts=opts)
    return {
        "resolvedBy": entry.resolved_by,
        "resolvedAt": entry.resolved_at,
        "inputs": dict(entry.inputs or {}),
    }


def poll_until(ktx: ExecutionContext, condition: Callable[[], bool], interval: timedelta) -> None:
    """Check `condition` every `interval` until it holds; the worker is free in between."""
    poll_until_named(ktx, condition, PollOptions(interval=interval))


def poll_until_named(
    ktx: ExecutionContext, condition: Callable[[], bool], opts: PollOptions
) -> None:
    """`poll_until` with a step name; the success is recorded, so replay does not poll."""
    rt = step_runtime(ktx)

    def live(name: str) -> dict[str, Any] | WaitingOn:
        if condition():
            return {"displayName": opts.display_name, "description": opts.description}
        return WaitingOn(kind="poll", until=rt.now() + opts.interval, step=name)

    rt.step(PollEntry, live, opts=opts)


def _resolution(sus: Suspension) -> dict[str, Any]:
    at = sus.status.resolved_at
    return {
        "resolvedBy": sus.status.resolved_by or "timer",
        "resolvedAt": at.isoformat() if at else None,
        "displayName": sus.spec.display_name,
        "inputs": sus.status.inputs,
    }
