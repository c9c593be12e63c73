"""Engine control flow: signals that unwind a function past any `except Exception`."""

from __future__ import annotations

from kontinue.api import WaitingOn

__all__ = ["Park", "Stop"]


class Park(BaseException):
    """Unwind the function and release the Execution until `waiting_on` holds."""

    def __init__(self, waiting_on: WaitingOn) -> None:
        super().__init__(waiting_on.kind)
        self.waiting_on = waiting_on


class Stop(BaseException):
    """Unwind the function: this worker no longer owns the Execution (lease lost, canceled)."""
