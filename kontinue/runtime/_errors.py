"""The error helpers of durable functions (Go SDK reference) and the journal form of errors.

The tree itself (`Error`, `ErrorKind`, the sentinels) lives in `kontinue.api._errors`, the bottom
layer, so that every layer's errors derive from it; it is re-exported here.
"""

from __future__ import annotations

import builtins
import os
import sys
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
    ErrorCause,
    ErrorKind,
    ErrorRecord,
    ErrOverallTimeout,
)
from kontinue.api._errors import chain, chain_text, safe_str

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


def new_non_retryable_error(cause: BaseException | None, message: str) -> Error:
    """An error that stops retries: `raise kontinue.new_non_retryable_error(err, "bad config")`."""
    return Error(message, retryable=False, cause=cause)


def new_retryable_error(cause: BaseException | None, message: str) -> Error:
    """An error explicitly marked retryable."""
    return Error(message, retryable=True, cause=cause)


def _first_error(err: BaseException) -> Error | None:
    """The first kontinue error in `err`'s chain, as Go's `errors.As` finds it."""
    return next((e for e in chain(err) if isinstance(e, Error)), None)


def is_retryable_error(err: BaseException) -> bool:
    """Whether a retry may help: the first kontinue error in the cause chain decides.

    A plain exception raised from (or while handling) a non-retryable kontinue error is not
    retryable; with no kontinue error in the chain, an error counts as retryable.
    """
    found = _first_error(err)
    return found.retryable if found is not None else True


def get_error_kind(err: BaseException) -> str:
    """The kind of the first kontinue error in the cause chain, or "" if there is none."""
    found = _first_error(err)
    return found.kind.value if found is not None else ""


def _type_name(err: BaseException) -> str:
    cls = type(err)
    if isinstance(err, Error) and err.replayed_type is not None:
        return err.replayed_type
    if cls.__module__ == "builtins" or cls.__module__.startswith("kontinue."):
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def _cause_record(err: BaseException) -> dict[str, Any]:
    if isinstance(err, Error):
        message, kind, retryable, child = err.message, err.kind.value, err.retryable, err.child
    else:
        message = safe_str(err)
        kind, retryable, child = ErrorKind.EXECUTION.value, True, None
    return ErrorCause(
        type=_type_name(err), kind=kind, message=message, retryable=retryable, child=child
    ).wire()


def error_to_record(err: BaseException) -> dict[str, Any]:
    """The JSON-plain form of an error, kept in the journal and in `status.error`.

    `message` is the whole chain's text (what users read); `causes` keeps each wrapped error's
    type, kind, own message and retryable flag, so `error_from_record` rebuilds the chain.
    Kind and retryable are those the engine acts on (the chain's first kontinue error).
    """
    causes = [_cause_record(e) for e in chain(err)[1:]]
    found = _first_error(err)
    rec = ErrorRecord(
        type=_type_name(err),
        kind=found.kind.value if found is not None else ErrorKind.EXECUTION.value,
        message=chain_text(err),
        retryable=found.retryable if found is not None else True,
        child=err.child if isinstance(err, Error) else None,
        stack_trace=None if isinstance(err, Error) else _stack(err),
        causes=[ErrorCause.model_validate(c) for c in causes] or None,
    )
    return rec.wire()


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


def _kontinue_class(name: str, root: type[Error] = Error) -> type[Error] | None:
    if root.__name__ == name and root.__module__.startswith("kontinue."):
        return root
    for sub in root.__subclasses__():
        found = _kontinue_class(name, sub)
        if found is not None:
            return found
    return None


def _loaded_class(name: str) -> type[BaseException] | None:
    """The exception class a record names, if its module is already loaded (never imported)."""
    module, _, qualname = name.rpartition(".")
    owner: Any = sys.modules.get(module) if module else builtins
    for part in qualname.split("."):
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and issubclass(owner, Exception):
        return owner
    return None


_REPLAYED: dict[tuple[type[Error], type[BaseException]], type[Error]] = {}


def _replayed_class(base: type[Error], plain: type[BaseException], name: str) -> type[Error]:
    """A class that is both `base` and the user's exception class, so `except` matches."""
    key = (base, plain)
    if key not in _REPLAYED:
        try:
            made = type(plain.__name__, (base, plain), {"replayed_type": name})
        except TypeError:  # an incompatible layout: the kontinue error alone
            made = type(plain.__name__, (base,), {"replayed_type": name})
        made.__module__ = plain.__module__
        _REPLAYED[key] = made
    return _REPLAYED[key]


def _rebuild(
    rec: dict[str, Any], message: str, cause: Error | None, plain_base: type[Error]
) -> Error:
    name = str(rec.get("type") or "")
    cls = _kontinue_class(name) if name else Error
    if cls is None:
        plain = _loaded_class(name)
        cls = (
            _replayed_class(plain_base, plain, name)
            if plain is not None
            else _replayed_class(plain_base, Exception, name)
        )
        short = name.rpartition(".")[2]
        message = message.removeprefix(f"{short}: ") if message != short else ""
    err = cls.__new__(cls, message)
    BaseException.__init__(err, message)
    err._setup(
        message,
        rec.get("kind", ErrorKind.EXECUTION.value),
        rec.get("retryable", True),
        rec.get("child"),
        cause,
    )
    return err


def error_from_record(rec: dict[str, Any]) -> Error:
    """Rebuild the error a record describes: its class, kind, message, retryable and causes.

    A kontinue error comes back as its own class; a plain exception (`ValueError`, a user's
    class whose module is loaded) as a class deriving from both `ErrExecution` (a user's code
    failed) and it, so an `except ValueError` matches on replay as on the first run.
    """
    plain_base = ErrExecution
    cause: Error | None = None
    causes = list(rec.get("causes") or [])
    for item in reversed(causes):
        cause = _rebuild(item, str(item.get("message", "")), cause, plain_base)
    message = str(rec.get("message", ""))
    if cause is not None:
        tail = chain_text(cause)
        if message.endswith(f": {tail}"):
            message = message[: -len(tail) - 2]
        elif message == tail:
            message = ""
    return _rebuild(rec, message, cause, plain_base)
