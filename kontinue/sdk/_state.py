"""State steps: `store` a value once, and status updates (message, progress)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kontinue.api import Progress, StoreEntry
from kontinue.runtime import (
    Error,
    ErrorKind,
    ExecutionContext,
    NotAnOutcome,
    error_from_record,
    step_runtime,
)
from kontinue.sdk._options import StoreOptions
from kontinue.sdk._values import from_json, to_json

__all__ = ["clear_progress", "set_message", "set_progress", "store", "store_named"]

T = TypeVar("T")


def store(
    ktx: ExecutionContext,
    fn: Callable[[], T],
    opts: StoreOptions | None = None,
    *,
    result_type: Any = None,
) -> T:
    """Run `fn` once and record its result; replays return the recorded value.

    Use it for anything that must not change on replay: ids, timestamps, API calls with
    side effects. An exception `fn` raises is recorded too: the first run raises it as it
    is; a replay (within the attempt; a retry runs `fn` again) raises a `kontinue.Error` with
    the recorded kind, message, retryable flag and causes that is also an instance of the
    original class when that class is loaded (`except ValueError` matches both times).

    Args:
        ktx: the execution context.
        fn: computes the value; its result must be JSON-serializable (or a pydantic model).
        opts: naming options.
        result_type: the type to rebuild the recorded JSON into (e.g. a pydantic model).
    """
    rt = step_runtime(ktx)
    ran: list[Any] = []

    def live(name: str) -> dict[str, Any]:
        value = fn()  # an exception is recorded by the step, then raised as it is
        try:
            plain = to_json(value)
        except Exception as exc:
            raise NotAnOutcome(
                Error(
                    f'store step "{name}" of Execution "{ktx.name}" returned a '
                    f"{type(value).__name__} that cannot be recorded as JSON ({exc}); return "
                    "a pydantic model, a dict or plain values",
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                )
            ) from None
        ran.append(value)
        return {"result": plain, **_display(opts)}

    entry = rt.step(StoreEntry, live, opts=opts, record_errors=True)
    if ran and result_type is None:
        value = ran[0]
        return value if _plain(value) else from_json(entry.result)  # type: ignore[no-any-return]
    if entry.error is not None:
        raise error_from_record(entry.error)
    return from_json(entry.result, result_type)  # type: ignore[no-any-return]


def store_named(
    ktx: ExecutionContext, opts: StoreOptions, fn: Callable[[], T], *, result_type: Any = None
) -> T:
    """`store` with an explicit step name or prefix (from `opts`)."""
    return store(ktx, fn, opts, result_type=result_type)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _display(opts: StoreOptions | None) -> dict[str, Any]:
    if opts is None:
        return {}
    return {"displayName": opts.display_name, "description": opts.description}


def set_message(ktx: ExecutionContext, message: str) -> None:
    """Show `message` on the Execution (CLI and UI); later calls overwrite it."""
    rt = step_runtime(ktx)
    rt.checkpoint()
    rt.set_message(message)


def set_progress(ktx: ExecutionContext, current: int, max: int) -> None:
    """Show progress `current` of `max` (a bar in the UI, a fraction in the CLI)."""
    rt = step_runtime(ktx)
    rt.checkpoint()
    rt.mark_progress_set()
    rt.write_progress(Progress(current=current, max=max))


def clear_progress(ktx: ExecutionContext) -> None:
    """Remove the progress indicator; later fan-outs show their own progress again."""
    rt = step_runtime(ktx)
    rt.checkpoint()
    rt.mark_progress_set(False)
    rt.write_progress(None)
