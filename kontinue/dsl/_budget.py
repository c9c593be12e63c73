"""A budget for one template render: output size, CPU time, and a way to cancel it.

The sandbox refuses single huge operations (a power, a repetition, a range), but a loop of
small ones passes each check: ``{% for i in range(100000) %}{% for j in range(100000) %}``
spins for hours and a loop that appends to a string builds gigabytes. So every render runs
under a budget:

* the output of one template is at most `MAX_OUTPUT` characters (1 MiB), and so is every
  string it builds with `~` or `+` on the way;
* one template gets at most `MAX_SECONDS` seconds of CPU time (5 s);
* a render stops as soon as its Execution is canceled or its worker drains.

Time and cancellation are checked on the template's own lines (a trace function that is
active only in the frames of compiled templates), so no loop escapes them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from kontinue.api import Error, ErrorKind

__all__ = [
    "MAX_OUTPUT",
    "MAX_SECONDS",
    "BudgetExceeded",
    "RenderInterrupted",
    "bound_joins",
    "check_size",
    "interruptible",
    "run_budgeted",
]

MAX_OUTPUT = int(os.environ.get("KONTINUE_TEMPLATE_MAX_OUTPUT", str(1024 * 1024)))
MAX_SECONDS = float(os.environ.get("KONTINUE_TEMPLATE_MAX_SECONDS", "5"))
_CHECK_EVERY = 2000  # template lines between two looks at the clock
_TEMPLATE_FILE = "<template>"


class BudgetExceeded(Error):
    """The template's output or time ran past its budget."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


class RenderInterrupted(Error):
    """The render was stopped from outside (cancel, drain); the caller raises the reason."""

    default_kind, default_retryable = ErrorKind.INFRASTRUCTURE, True


_local = threading.local()


@contextmanager
def interruptible(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Renders in this block stop (RenderInterrupted) once `should_stop()` is true."""
    previous = getattr(_local, "should_stop", None)
    _local.should_stop = should_stop
    try:
        yield
    finally:
        _local.should_stop = previous


def run_budgeted(pieces: Callable[[], Iterator[str]] | None, call: Callable[[], Any]) -> Any:
    """Run `call()` (or join the output `pieces()`) within the budget.

    Raises:
        BudgetExceeded: too much output or CPU time; the message says which and the limit.
        RenderInterrupted: the render was canceled.
    """
    should_stop: Callable[[], bool] | None = getattr(_local, "should_stop", None)
    start = time.thread_time()
    lines = 0

    def check() -> None:
        if should_stop is not None and should_stop():
            raise RenderInterrupted("the render was stopped: its Execution was canceled")
        if time.thread_time() - start > MAX_SECONDS:
            raise BudgetExceeded(
                f"the template ran for more than {MAX_SECONDS:g}s of CPU time "
                "(KONTINUE_TEMPLATE_MAX_SECONDS); loop over less"
            )

    def local_trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
            if lines % _CHECK_EVERY == 0:
                check()
        return local_trace

    def global_trace(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename == _TEMPLATE_FILE:
            return local_trace
        return None

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        if pieces is None:
            return call()
        out: list[str] = []
        size = 0
        for piece in pieces():
            size += len(piece)
            if size > MAX_OUTPUT:
                raise BudgetExceeded(
                    f"the template's output is longer than {MAX_OUTPUT:,} characters "
                    "(KONTINUE_TEMPLATE_MAX_OUTPUT); build less text"
                )
            out.append(piece)
        check()
        return "".join(out)
    finally:
        sys.settrace(previous)


def check_size(size: int) -> None:
    """Refuse a string a template builds that is longer than the output budget."""
    if size > MAX_OUTPUT:
        raise BudgetExceeded(
            f"the template builds a string longer than {MAX_OUTPUT:,} characters "
            "(KONTINUE_TEMPLATE_MAX_OUTPUT); build less text"
        )


def bound_joins(namespace: dict[str, Any]) -> None:
    """Make `~` in one compiled template (its module `namespace`) refuse oversized strings."""
    for name in ("str_join", "markup_join"):
        join = namespace.get(name)
        if join is None or getattr(join, "_bounded", False):
            continue

        def bounded(seq: Any, _join: Callable[[Any], Any] = join) -> Any:
            parts = list(seq)
            check_size(sum(len(p) if isinstance(p, str) else 0 for p in parts))
            result = _join(parts)
            check_size(len(result))
            return result

        bounded._bounded = True  # type: ignore[attr-defined]
        namespace[name] = bounded
