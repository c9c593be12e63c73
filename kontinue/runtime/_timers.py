"""Due times of the controller's reconcilers: a heap keyed by the object each one is for.

Each key has at most one due time; entries a later `set` made stale stay in the heap and
are skipped when they reach its top (or dropped when they outnumber the live ones), so
setting a time costs O(log n) and nothing is ever searched.
"""

from __future__ import annotations

import heapq
from datetime import datetime

__all__ = ["Key", "Timers"]

Key = tuple[str, str]
"""(namespace, name) of the object a due time is for."""


class Timers:
    """When each object must be looked at again."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, Key]] = []
        self._due: dict[Key, datetime] = {}

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: Key, when: datetime | None) -> None:
        """Look at `key` again at `when` (None: no time for it any more)."""
        current = self._due.get(key)
        if when == current:
            return  # unchanged: the entry in the heap stands
        if when is None:
            self._due.pop(key, None)
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, key))
        if len(self._heap) > 2 * len(self._due) + 64:  # mostly stale entries: rebuild
            self._heap = [(t, k) for k, t in self._due.items()]
            heapq.heapify(self._heap)

    def get(self, key: Key) -> datetime | None:
        """The time set for `key`, or None."""
        return self._due.get(key)

    def pop_due(self, now: datetime) -> list[Key]:
        """The keys whose time is `now` or before; their times are forgotten."""
        keys: list[Key] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if self._due.get(key) == when:
                del self._due[key]
                keys.append(key)
        return keys

    def next(self) -> datetime | None:
        """The earliest time set, or None."""
        heap = self._heap
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # stale: forgotten, or replaced by an earlier time
        return heap[0][0] if heap else None
