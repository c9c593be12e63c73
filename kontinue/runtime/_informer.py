"""An informer: a local cache of resources kept current by list-then-watch, as in client-go."""

from __future__ import annotations

from typing import Any

from kontinue.api import Resource
from kontinue.store import GoneError, Store, WatchEvent

__all__ = ["Informer"]


class Informer:
    """Caches every resource of some kinds (in one namespace or all) and applies changes."""

    def __init__(
        self, store: Store, kinds: tuple[type[Resource], ...], namespace: str | None = None
    ) -> None:
        self.store = store
        self.kinds = {k.KIND: k for k in kinds}
        self.namespace = namespace
        self.cache: dict[tuple[str, str, str], Any] = {}
        self._version: str | None = None

    def _relist(self) -> None:
        version = self.store.current_version()
        self.cache.clear()
        for cls in self.kinds.values():
            for obj in self.store.list(cls, self.namespace):
                self.cache[(cls.KIND, obj.metadata.namespace, obj.metadata.name)] = obj
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
                key = (ev.kind, ev.namespace, ev.name)
                if ev.type == "DELETED":
                    self.cache.pop(key, None)
                else:
                    self.cache[key] = self.kinds[ev.kind].model_validate(ev.object)
        except GoneError:
            self._relist()
        return events

    def of(self, cls: type[Any]) -> list[Any]:
        """Cached resources of one kind."""
        return [v for (k, _, _), v in self.cache.items() if k == cls.KIND]

    def get(self, cls: type[Any], namespace: str, name: str) -> Any | None:
        """One cached resource, or None."""
        return self.cache.get((cls.KIND, namespace, name))
