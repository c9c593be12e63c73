"""Server-sent events: changes pushed to every open page, with no polling anywhere.

The engine's informer already follows the store; its changes reach the `Hub`, which hands
them to each subscriber's queue on the event loop. An idle page costs one keep-alive comment
every `KEEPALIVE` seconds and nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEEPALIVE", "Hub"]

KEEPALIVE = 25.0
_QUEUE = 1000


@dataclass(eq=False)
class _Subscriber:
    namespace: str | None
    allowed: Callable[[str], bool]
    queue: asyncio.Queue[list[dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(_QUEUE)
    )
    overflowed: bool = False


class Hub:
    """Fans changes out to the open event streams."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[_Subscriber] = set()
        self.closing = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (at start-up)."""
        self.loop = loop

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def publish(self, changes: list[dict[str, Any]]) -> None:
        """Hand changes to every stream; callable from any thread."""
        loop = self.loop
        if loop is None or not self._subscribers or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._fanout, changes)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _fanout(self, changes: list[dict[str, Any]]) -> None:
        for sub in list(self._subscribers):
            mine = [
                c
                for c in changes
                if "namespace" not in c
                or (
                    (sub.namespace is None or c["namespace"] == sub.namespace)
                    and sub.allowed(c["namespace"])
                )
            ]
            if not mine:
                continue
            try:
                sub.queue.put_nowait(mine)
            except asyncio.QueueFull:
                sub.overflowed = True  # the page reloads instead of applying each change

    def close(self) -> None:
        """End every stream (at shutdown)."""
        self.closing = True
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                sub.overflowed = True

    async def stream(
        self, namespace: str | None, allowed: Callable[[str], bool]
    ) -> AsyncIterator[str]:
        """The `text/event-stream` of one page: `change` events, `resync` when it fell behind."""
        sub = _Subscriber(namespace, allowed)
        self._subscribers.add(sub)
        try:
            yield "retry: 2000\n: connected\n\n"
            while not self.closing:
                try:
                    batch = await asyncio.wait_for(sub.queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if batch is None:
                    return
                if sub.overflowed:
                    sub.overflowed = False
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    yield "event: resync\ndata: {}\n\n"
                    continue
                for change in batch:
                    kind = "resync" if change["type"] == "RELIST" else "change"
                    yield f"event: {kind}\ndata: {json.dumps(change, separators=(',', ':'))}\n\n"
        finally:
            self._subscribers.discard(sub)
