"""An informer: a local cache of resources kept current by list-then-watch, as in client-go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kontinue.api import (
    TERMINAL_PHASES,
    Execution,
    Function,
    Mutex,
    Resource,
    ScheduledExecution,
    Suspension,
)
from kontinue.store import GoneError, Store, WatchEvent

__all__ = ["INFORMED_KINDS", "Informer"]

INFORMED_KINDS: tuple[type[Resource], ...] = (
    Execution,
    Suspension,
    Mutex,
    Function,
    ScheduledExecution,
)
"""Every kind the engine reads. Watching all of them keeps an informer's version moving
with the store's, so a quiet kind never leaves it behind the kept window of changes."""

_Key = tuple[str, str]


class Informer:
    """Caches every resource of some kinds (in one namespace or all) and applies changes.

    Besides the cache by kind and name it keeps two indexes the engine's passes need, so
    that their cost follows the live work and not everything the store ever held: resources
    by uid, and the Executions that have not finished.
    """

    def __init__(
        self, store: Store, kinds: tuple[type[Resource], ...], namespace: str | None = None
    ) -> None:
        self.store = store
        self.kinds = {k.KIND: k for k in kinds}
        self.namespace = namespace
        self._by_kind: dict[str, dict[_Key, Any]] = {kind: {} for kind in self.kinds}
        self._by_uid: dict[str, Any] = {}
        self._unfinished: dict[_Key, Execution] = {}
        self._version: str | None = None
        self._subscribers: list[Callable[[Any], None]] = []

    def subscribe(self, callback: Callable[[Any], None]) -> None:
        """Call `callback(obj)` with every object the cache takes in (listed or changed)."""
        self._subscribers.append(callback)

    def _put(self, obj: Any) -> None:
        key = (obj.metadata.namespace, obj.metadata.name)
        old = self._by_kind[obj.kind].get(key)
        if old is not None and old.metadata.uid != obj.metadata.uid:
            self._by_uid.pop(old.metadata.uid or "", None)
        self._by_kind[obj.kind][key] = obj
        if obj.metadata.uid:
            self._by_uid[obj.metadata.uid] = obj
        if obj.kind == Execution.KIND:
            if obj.status.phase in TERMINAL_PHASES:
                self._unfinished.pop(key, None)
            else:
                self._unfinished[key] = obj
        for callback in self._subscribers:
            callback(obj)

    def _drop(self, kind: str, key: _Key) -> None:
        old = self._by_kind[kind].pop(key, None)
        if old is not None:
            self._by_uid.pop(old.metadata.uid or "", None)
        if kind == Execution.KIND:
            self._unfinished.pop(key, None)

    def _relist(self) -> None:
        version = self.store.current_version()
        self._by_kind = {kind: {} for kind in self.kinds}
        self._by_uid.clear()
        self._unfinished.clear()
        for cls in self.kinds.values():
            for obj in self.store.list(cls, self.namespace):
                self._put(obj)
        self._version = version

    def sync(self, timeout: float = 0.0) -> list[WatchEvent]:
        """Apply changes since the last sync, waiting up to `timeout` s for the first one."""
        if self._version is None:
            self._relist()
            return []
        events: list[WatchEvent] = []
        try:
            for ev in self.store.watch(
                self._version, tuple(self.kinds), self.namespace, timeout=timeout
            ):
                events.append(ev)
                self._version = ev.resource_version
                if ev.type == "DELETED":
                    self._drop(ev.kind, (ev.namespace, ev.name))
                else:
                    self._put(self.kinds[ev.kind].model_validate(ev.object))
        except GoneError:
            self._relist()
        return events

    def of(self, cls: type[Any]) -> list[Any]:
        """Cached resources of one kind."""
        return list(self._by_kind[cls.KIND].values())

    def get(self, cls: type[Any], namespace: str, name: str) -> Any | None:
        """One cached resource, or None."""
        return self._by_kind[cls.KIND].get((namespace, name))

    def by_uid(self, uid: str) -> Any | None:
        """A cached resource by its uid, or None."""
        return self._by_uid.get(uid)

    def unfinished(self) -> list[Execution]:
        """Executions that are not Completed, Failed or Canceled."""
        return list(self._unfinished.values())
