"""The one clock the runtime reads time from: the system's, or a virtual one for tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SystemClock", "VirtualClock"]


class Clock(Protocol):
    """A source of the current time (timezone-aware UTC)."""

    def now(self) -> datetime:
        """The current time."""
        ...

    @property
    def virtual(self) -> bool:
        """True if time only moves when a test moves it."""
        ...


class SystemClock:
    """Wall-clock time."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """Time that moves only when told, so a one-hour sleep takes no real time in a test."""

    virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by `delta` and return the new time."""
        with self._lock:
            self._now += max(delta, timedelta(0))
            return self._now

    def advance_to(self, when: datetime) -> datetime:
        """Move time forward to `when` (never backward)."""
        with self._lock:
            self._now = max(self._now, when)
            return self._now
