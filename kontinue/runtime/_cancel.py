"""Cancel with clean-up: what `onCancel: Cleanup` means, for every way an Execution is canceled.

A plain cancel (`onCancel: Stop`, the default) ends an Execution at once: phase `Canceled`, its
jobs stopped, its children canceled. An Execution whose function cleans up after a cancel (a
pipeline with `finally:` steps) has `spec.onCancel: Cleanup`; a cancel of it, from any client
(`kontinue cancel`, the HTTP API, `cancel_execution`, a parent's cascade), only *requests* it
(`status.cancelRequested`) and cancels its children and jobs. The function is woken (or, when
running, interrupted) and the cancel is delivered to it as `ErrCanceled` at its next step,
like Temporal's cancellation or a canceled Go context. Where it is delivered, a `cancel` entry
is journaled, so a replay delivers it at the same point: the steps before it replay with their
outcomes, and the clean-up steps after it replay too. The function may then run clean-up steps
inside `shielded(ktx)` (Go's `context.WithoutCancel`): they run and are journaled normally.
When the function returns, the Execution ends `Canceled`, whatever the clean-up did.

A second cancel, or a forced one (`kontinue cancel --force`, `?force=true`), stops everything
at once, clean-up included: the clean-up's own jobs are killed like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kontinue.api import CancelRequest, ErrorRecord, Execution, OnCancel

if TYPE_CHECKING:
    from kontinue.runtime._context import ExecutionContext

__all__ = [
    "CANCEL_KIND",
    "cancel_mutation",
    "cancel_requested",
    "cleanup_on_cancel",
    "delivered_cancel",
    "on_cancel_of",
    "shielded",
]

CANCEL_KIND = "cancel"
"""The journal kind of the entry that marks where a requested cancel was delivered."""

_CLEANUP: dict[str, Callable[[Any], bool]] = {}


def cleanup_on_cancel(function: str, wants: Callable[[Any], bool]) -> None:
    """Declare that Executions of `function` whose arguments satisfy `wants` clean up on cancel."""
    _CLEANUP[function] = wants


def on_cancel_of(function: str, arguments: Any) -> OnCancel | None:
    """`Cleanup` for an Execution of `function` with `arguments` that cleans up; else None."""
    wants = _CLEANUP.get(function)
    try:
        return "Cleanup" if wants is not None and wants(arguments) else None
    except Exception:  # arguments of an unexpected shape: a plain cancel
        return None


class _AlreadyDone(Exception):
    """The Execution had already ended when the cancel came."""


def cancel_mutation(
    now: datetime, reason: str, *, force: bool = False, strict: bool = True
) -> Callable[[Execution], None]:
    """The status change a cancel makes: a request (clean-up first) or the end.

    A first cancel of an `onCancel: Cleanup` Execution requests it: a parked one is woken (one
    waiting on a job stays parked until the job is stopped), one in backoff starts its next
    attempt at once. A second cancel, `force`, or any other Execution: phase `Canceled`.
    `strict`: an Execution that has ended raises `_AlreadyDone` (else it is left alone).
    """

    def mutate(ex: Execution) -> None:
        st = ex.status
        if ex.terminal:
            if strict:
                raise _AlreadyDone(st.phase)
            return
        if ex.spec.on_cancel == "Cleanup" and not force and st.cancel_requested is None:
            st.cancel_requested = CancelRequest(time=now, reason=reason)
            st.message = f"{reason}; it cleans up before it ends (cancel again to stop at once)"
            if st.phase == "Backoff":
                st.phase = "Pending"
                st.attempts += 1
                st.backoff_until = None
                st.worker = None
            elif st.phase == "Suspended" and (st.waiting_on is None or st.waiting_on.kind != "job"):
                st.phase = "Pending"
                st.waiting_on = None
            return
        st.phase = "Canceled"
        st.finish_time = now
        st.lease = None
        st.message = reason
        st.error = ErrorRecord(kind="ChildCanceled", message=reason, retryable=False)

    return mutate


def cancel_requested(ktx: ExecutionContext) -> CancelRequest | None:
    """The cancel request of the running Execution, if one was made (delivered or not)."""
    from kontinue.runtime._steps import step_runtime

    return step_runtime(ktx)._claim.cancel_requested


def delivered_cancel(ktx: ExecutionContext) -> CancelRequest | None:
    """Deliver a requested cancel here, where the function stopped on an error; its request.

    For a function that ends its main work on any error (a child canceled by the same cancel
    fails it first): it learns whether that was the cancel. None when no cancel was requested,
    or when steps recorded after this point show the run went on before the cancel came.
    """
    from kontinue.runtime._steps import step_runtime

    rt = step_runtime(ktx)
    return rt._claim.cancel_requested if rt.observe_cancel() else None


@contextmanager
def shielded(ktx: ExecutionContext) -> Iterator[None]:
    """Run clean-up steps that a first cancel does not stop (Go's `context.WithoutCancel`).

    Inside, steps run and are journaled even though a cancel was requested; a second or forced
    cancel still stops them (the Execution is then `Canceled` and its jobs are killed).
    """
    from kontinue.runtime._context import CancelScope
    from kontinue.runtime._steps import step_runtime

    claim = step_runtime(ktx)._claim
    outer, was = claim.scope, claim.shielded
    claim.shielded = True
    claim.scope = CancelScope(claim.clock)
    if claim.canceled:
        claim.scope.cancel("canceled")
    try:
        yield
    finally:
        claim.shielded = was
        claim.scope = outer
