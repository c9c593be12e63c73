"""`ExecutionContext`: what a running function sees (the Go reference's context, no more)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from kontinue.api import Execution
from kontinue.runtime._clock import Clock

if TYPE_CHECKING:
    from kontinue.runtime._steps import StepRuntime

__all__ = ["CancelScope", "ExecutionContext"]


class CancelScope:
    """The Python counterpart of Go's `ktx.Context()`: cancellation and deadline.

    Long-running code that does not call the SDK should check `cancelled()` now and then,
    or block in `wait()` instead of `time.sleep()`.
    """

    def __init__(self, clock: Clock, deadline: datetime | None = None) -> None:
        self._event = threading.Event()
        self._clock = clock
        self.reason: str | None = None
        self.deadline = deadline

    def cancel(self, reason: str) -> None:
        """Mark as cancelled (idempotent; the first reason wins)."""
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def cancelled(self) -> bool:
        """True once the Execution was canceled, lost, or ran past its deadline."""
        if self.deadline is not None and self._clock.now() >= self.deadline:
            self.cancel("deadline exceeded")
        return self._event.is_set()

    def remaining(self) -> float | None:
        """Seconds until the deadline, or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, (self.deadline - self._clock.now()).total_seconds())

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to `timeout` seconds (or until the deadline); True if cancelled."""
        limit = self.remaining()
        if limit is not None and not self._clock.virtual:
            timeout = limit if timeout is None else min(timeout, limit)
        return self._event.wait(timeout) or self.cancelled()


class ExecutionContext:
    """Passed as `ktx` to every durable function; SDK calls take it as first argument.

    It offers what the Go reference's context offers a user: the Execution (`execution()`,
    and `name`, `namespace` for short), `attempts()`, `resumptions()`, `context()` for
    cancellation and deadline, and `now()` (the runtime clock, virtual in tests). The engine
    behind it (the journal, recording, parking) is private to the runtime; the SDK's
    module-level functions use it.
    """

    __slots__ = ("_runtime",)

    def __init__(self, runtime: StepRuntime) -> None:
        self._runtime = runtime

    def execution(self) -> Execution:
        """The current Execution resource (name, namespace, labels, spec, status)."""
        return self._runtime.execution()

    def attempts(self) -> int:
        """Previous attempts, not counting the one running now."""
        return self._runtime.attempts()

    def resumptions(self) -> int:
        """How often a worker took over this already-started Execution (retries included)."""
        return self._runtime.execution().status.resumptions

    def context(self) -> CancelScope:
        """Cancellation and deadline of this attempt, for code that runs a long time."""
        return self._runtime.scope

    @property
    def name(self) -> str:
        """The Execution's name."""
        return self._runtime.name

    @property
    def namespace(self) -> str:
        """The Execution's namespace."""
        return self._runtime.namespace

    def now(self) -> datetime:
        """The runtime clock's time (virtual in tests)."""
        return self._runtime.clock.now()

    @property
    def replaying(self) -> bool:
        """True while steps are still being read back from the journal."""
        return self._runtime.replaying

    def __repr__(self) -> str:
        return f"<ExecutionContext {self.namespace}/{self.name} attempt {self.attempts() + 1}>"
