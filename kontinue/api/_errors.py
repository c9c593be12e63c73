"""The one error tree of kontinue: every error the package raises is a `kontinue.Error`.

It lives in the bottom layer so that the store, the runners, the DSL and the CLI derive their
errors from it (as httpx's exceptions all derive from `httpx.HTTPError`)::

    kontinue.Error                 kind, message, retryable, child, cause
    ├── ErrDuplicateStep           Validation, not retryable: a step name used twice
    ├── ErrNonDeterminism          Validation, not retryable: replay met a different step
    ├── ErrChildFailed             ChildFailed, retryable: a child Execution failed
    ├── ErrChildCanceled           ChildCanceled, retryable: a child Execution was canceled
    ├── ErrJobFailed               Execution, retryable: a Job, Pod or script failed
    ├── ErrExecution               Execution, retryable: a function failed, as its waiter sees it
    ├── ErrOverallTimeout          Timeout, not retryable
    ├── ErrAttemptTimeout          Timeout, retryable
    ├── ErrCanceled                Validation, not retryable: the Execution was canceled
    ├── StoreError                 Infrastructure (kontinue.store): NotFound, AlreadyExists, ...
    ├── RunnerError                Infrastructure (kontinue.runners): no engine, no such job
    ├── PipelineError, TemplateError, ArgumentsError   Validation (kontinue.dsl)
    ├── DurationError              Validation: a duration that does not parse
    ├── OperationError, UnknownFunctionError           Validation (kontinue.runtime)
    └── UsageError                 Validation (the CLI): a mistake in what the user asked for

The sentinels are subclasses, so `except kontinue.ErrChildFailed` and
`isinstance(err, kontinue.ErrChildFailed)` play the part of Go's `errors.Is`. A user-built
`Error(kind=...)` is retryable as the reference's table says for that kind, unless `retryable=`
says otherwise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "RETRYABLE_BY_KIND",
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
    "cause_of",
    "chain",
    "chain_text",
    "own_text",
    "safe_str",
]


class ErrorKind(StrEnum):
    """Error categories; the value is what `status.error.kind` shows."""

    INFRASTRUCTURE = "Infrastructure"
    VALIDATION = "Validation"
    CHILD_FAILED = "ChildFailed"
    CHILD_CANCELED = "ChildCanceled"
    TIMEOUT = "Timeout"
    INTERNAL = "Internal"
    EXECUTION = "Execution"


# The reference's table: whether an error of a kind may be retried when nobody said otherwise.
# Timeout "depends" (overall: no, attempt: yes, their classes say); Execution is "configurable".
RETRYABLE_BY_KIND: dict[ErrorKind, bool] = {
    ErrorKind.INFRASTRUCTURE: True,
    ErrorKind.VALIDATION: False,
    ErrorKind.CHILD_FAILED: True,
    ErrorKind.CHILD_CANCELED: True,
    ErrorKind.TIMEOUT: True,
    ErrorKind.INTERNAL: False,
    ErrorKind.EXECUTION: True,
}


class Error(Exception):
    """A kontinue error: a kind, a message, whether a retry may help, and its cause.

    Attributes:
        kind: The category (`ErrorKind`), shown as `status.error.kind`.
        message: The sentence describing this error, without its cause.
        retryable: Whether a retry may help; by default what the kind's row of the reference's
            table says (Validation and Internal: no).
        child: The child resource the error is about, if any.
        cause: The underlying error, also set as `__cause__`.
    """

    default_kind: ClassVar[ErrorKind] = ErrorKind.EXECUTION
    default_retryable: ClassVar[bool] = True
    replayed_type: ClassVar[str | None] = None
    """The name of the plain exception this error stands for, when rebuilt from a record."""

    def __init__(
        self,
        message: str = "",
        *,
        kind: ErrorKind | str | None = None,
        retryable: bool | None = None,
        child: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self._setup(message, kind, retryable, child, cause)

    def _setup(
        self,
        message: str,
        kind: ErrorKind | str | None,
        retryable: bool | None,
        child: str | None,
        cause: BaseException | None,
    ) -> None:
        self.message = message
        self.kind = ErrorKind(kind) if kind is not None else self.default_kind
        if retryable is None:
            retryable = (
                self.default_retryable
                if self.kind is self.default_kind
                else RETRYABLE_BY_KIND[self.kind]
            )
        self.retryable = retryable
        self.child = child
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        """The message, then its causes' (`outer: inner: root`), as Go's wrapped errors print.

        A plain exception rebuilt from a record prints as that exception did: its message.
        """
        return self.message if self.replayed_type is not None else chain_text(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind.value!r})"


class ErrDuplicateStep(Error):
    """A step name was used more than once in one Execution."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


class ErrNonDeterminism(Error):
    """Replay met a step that differs from the one recorded at that position."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


class ErrChildFailed(Error):
    """A child Execution failed."""

    default_kind, default_retryable = ErrorKind.CHILD_FAILED, True


class ErrChildCanceled(Error):
    """A child Execution was canceled."""

    default_kind, default_retryable = ErrorKind.CHILD_CANCELED, True


class ErrJobFailed(Error):
    """A Job, Pod or script failed."""

    default_kind, default_retryable = ErrorKind.EXECUTION, True


class ErrExecution(Error):
    """A function failed, as whoever waits on its Execution sees it."""

    default_kind, default_retryable = ErrorKind.EXECUTION, True


class ErrOverallTimeout(Error):
    """The overall timeout passed; not retryable."""

    default_kind, default_retryable = ErrorKind.TIMEOUT, False


class ErrAttemptTimeout(Error):
    """The attempt timeout passed; the next attempt may succeed."""

    default_kind, default_retryable = ErrorKind.TIMEOUT, True


class ErrCanceled(Error):
    """The Execution was canceled from outside."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


_MAX_CHAIN = 16


def cause_of(err: BaseException) -> BaseException | None:
    """The error `err` wraps: `__cause__`, else `__context__` unless suppressed (`from None`)."""
    if err.__cause__ is not None:
        return err.__cause__
    return None if err.__suppress_context__ else err.__context__


def chain(err: BaseException) -> list[BaseException]:
    """`err` and the errors it wraps, outermost first (bounded; cycles cut)."""
    found: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and len(found) < _MAX_CHAIN and all(current is not f for f in found):
        found.append(current)
        current = cause_of(current)
    return found


def own_text(err: BaseException) -> str:
    """What one error of a chain says about itself (a plain exception names its type)."""
    if isinstance(err, Error):
        if err.replayed_type is None:
            return err.message
        name = err.replayed_type.rpartition(".")[2]  # printed as the original: its class name
        return f"{name}: {err.message}" if err.message else name
    text = safe_str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


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


def chain_text(err: BaseException) -> str:
    """The whole chain as one line; a message that already ends with its cause's is not repeated."""
    text = ""
    for item in reversed(chain(err)):
        own = own_text(item)
        if not text or own.endswith(text):
            text = own or text
        elif own:
            text = f"{own}: {text}"
    return text
