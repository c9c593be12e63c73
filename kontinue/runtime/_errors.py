"""The error helpers of durable functions (Go SDK reference) and the journal form of errors.

The tree itself (`Error`, `ErrorKind`, the sentinels) lives in `kontinue.api._errors`, the bottom
layer, so that every layer's errors derive from it; it is re-exported here.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

from kontinue.api import (
    ErrAttemptTimeout,
    ErrCanceled,
    ErrChildCanceled,
    ErrChildFailed,
    ErrDuplicateStep,
    ErrExecution,
    ErrJobFailed,
    ErrNonDeterminism,
    Error,
    ErrorKind,
    ErrorRecord,
    ErrOverallTimeout,
)

__all__ = [
    "ErrAttemptTimeout",
    "ErrCanceled",
    "ErrChildCanceled",
    "ErrChildFailed",
    "ErrDuplicateStep",
    "ErrExecution",
    "ErrJobFailed",
    "ErrNonDeterminism",
    "ErrOverallTimeout",
    "Error",
    "ErrorKind",
    "error_from_record",
    "error_to_record",
    "get_error_kind",
    "is_retryable_error",
    "new_non_retryable_error",
    "new_retryable_error",
    "safe_str",
]


_SENTINELS: dict[str, type[Error]] = {
    cls.__name__: cls
    for cls in (
        Error,
        ErrDuplicateStep,
        ErrNonDeterminism,
        ErrChildFailed,
        ErrChildCanceled,
        ErrJobFailed,
        ErrExecution,
        ErrOverallTimeout,
        ErrAttemptTimeout,
        ErrCanceled,
    )
}


def new_non_retryable_error(cause: BaseException | None, message: str) -> Error:
    """An error that stops retries: `raise kontinue.new_non_retryable_error(err, "bad config")`."""
    return Error(message, retryable=False, cause=cause)


def new_retryable_error(cause: BaseException | None, message: str) -> Error:
    """An error explicitly marked retryable."""
    return Error(message, retryable=True, cause=cause)


def is_retryable_error(err: BaseException) -> bool:
    """Whether a retry may help; errors that are not kontinue errors count as retryable."""
    return err.retryable if isinstance(err, Error) else True


def get_error_kind(err: BaseException) -> str:
    """The error's kind, or "" if it is not a kontinue error."""
    return err.kind.value if isinstance(err, Error) else ""


def error_to_record(err: BaseException) -> dict[str, Any]:
    """The JSON-plain form of an error, kept in the journal and in `status.error`."""
    if isinstance(err, Error):
        rec = ErrorRecord(
            kind=err.kind.value, message=err.message, retryable=err.retryable, child=err.child
        ).wire()
        rec["type"] = type(err).__name__
        return rec
    message = safe_str(err) or type(err).__name__
    plain = ErrorRecord(
        kind=ErrorKind.EXECUTION.value,
        message=f"{type(err).__name__}: {message}",
        stack_trace=_stack(err),
    )
    return {**plain.wire(), "type": type(err).__name__}


def safe_str(err: BaseException) -> str:
    """`str(err)`, or a stand-in naming the error when its `__str__` itself fails.

    Recording a failure must never fail: a user exception with a broken `__str__` would
    otherwise leave its Execution unrecorded, and re-run after every lease expiry for ever.
    """
    try:
        return str(err)
    except Exception as exc:
        problem = type(exc).__name__
    try:
        shown = repr(err)
    except Exception:
        shown = f"<{type(err).__name__} object>"
    return f"{shown} (its message could not be read: __str__ raised {problem})"


def _stack(err: BaseException, limit: int = 12) -> str | None:
    """The last frames of where a plain exception came from: the user's bug, to fix."""
    if err.__traceback__ is None:
        return None
    frames = [
        f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith(_PACKAGE)
    ][-limit:]
    if not frames:
        return None
    return "".join(traceback.format_list(frames))[-4000:]


_PACKAGE = str(Path(__file__).resolve().parents[1]) + os.sep


def error_from_record(rec: dict[str, Any]) -> Error:
    """Rebuild the error a journal entry recorded, as the sentinel class it was."""
    cls = _SENTINELS.get(str(rec.get("type")), Error)
    return cls(
        rec.get("message", ""),
        kind=rec.get("kind", ErrorKind.EXECUTION.value),
        retryable=rec.get("retryable", True),
        child=rec.get("child"),
    )
