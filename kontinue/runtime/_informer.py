"""An informer: a local cache of resources kept current by list-then-watch, as in client-go.

Unlike client-go's, it does not keep everything: finished Executions and resolved
Suspensions leave the cache, so its memory and every pass over it follow the live work,
not the store's history (a store that ran 100,000 Executions costs the same as an empty
one). What a pass still needs of finished work stays: a finished Execution whose owner is
unfinished (its parent reads how it ended), one with unfinished children (they are
canceled with it), and a canceled one whose jobs may still run.

A parked Execution (Suspended: asleep, at a gate, waiting on children or jobs) is kept
packed, as the JSON the store holds (a tenth of the memory of the model), and read back
into a model only when asked for: parked work is mostly left alone until its time comes,
so 10,000 parked Executions cost a few MiB.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from kontinue.api import (
    Execution,
    Function,
    Mutex,
    Phase,
    Resource,
    ScheduledExecution,
    Suspension,
)
from kontinue.store import GoneError, NotFoundError, Store, WatchEvent

__all__ = ["INFORMED_KINDS", "LIVE_PHASES", "Informer"]

INFORMED_KINDS: tuple[type[Resource], ...] = (
    Execution,
    Suspension,
    Mutex,
    Function,
    ScheduledExecution,
)
"""Every kind the engine reads. Watching all of them keeps an informer's version moving
with the store's, so a quiet kind never leaves it behind the kept window of changes."""

LIVE_PHASES: tuple[Phase, ...] = ("Pending", "Executing", "Suspended", "Backoff")
"""Phases of an Execution that has not finished."""

_Key = tuple[str, str]

_TELL_EVERY = 256
"""Changes passed to the listeners at a time."""


class _Packed:
    """A parked Execution as JSON, with what the cache's indexes need of it."""

    __slots__ = ("data", "owners", "uid")
    kind = Execution.KIND
    terminal = False  # only unfinished (Suspended) Executions are packed

    def __init__(self, ex: Execution) -> None:
        self.data = ex.model_dump_json(by_alias=True, exclude_none=True).encode()
        self.uid = ex.metadata.uid
        self.owners = tuple(ref.uid for ref in _exec_owners(ex))

    def load(self) -> Execution:
        return Execution.model_validate_json(self.data)


def _load(obj: Any) -> Any:
    return obj.load() if isinstance(obj, _Packed) else obj


def _uid(obj: Any) -> str | None:
    return obj.uid if isinstance(obj, _Packed) else obj.metadata.uid


def _owner_uids(obj: Any) -> tuple[str, ...]:
    if isinstance(obj, _Packed):
        return obj.owners
    return tuple(ref.uid for ref in _exec_owners(obj))


class Informer:
    """Caches the live resources of some kinds (in one namespace or all) and applies changes.

    Besides the cache by kind and name it keeps indexes the engine's passes need: resources
    by uid, the unfinished Executions, and the runnable ones (Pending or Executing), so
    that a pass costs what the live work costs. Objects the cache dropped are read from the
    store on demand with `fetch`.
    """

    def __init__(
        self, store: Store, kinds: tuple[type[Resource], ...], namespace: str | None = None
    ) -> None:
        self.store = store
        self.kinds = {k.KIND: k for k in kinds}
        self.namespace = namespace
        self._by_kind: dict[str, dict[_Key, Any]] = {kind: {} for kind in self.kinds}
        self._by_uid: dict[str, Any] = {}
        self._unfinished: dict[_Key, Execution | _Packed] = {}
        self._runnable: dict[_Key, Execution] = {}
        # owner uid -> keys of its unfinished child Executions
        self._live_children: defaultdict[str, set[_Key]] = defaultdict(set)
        # owner uid -> keys of its finished child Executions kept for it
        self._kept_children: defaultdict[str, set[_Key]] = defaultdict(set)
        self._version: str | None = None
        self.changes = 0
        """How many changes this cache applied (a relist counts as one): a pass that saw
        this count and no timer due has nothing new to look at."""
        self._subscribers: list[Callable[[Any], None]] = []
        self._listeners: list[Callable[[list[WatchEvent], bool], None]] = []
        self.relists = 0
        """How many times the cache was listed anew (the first sync, or after a gap)."""

    def subscribe(self, callback: Callable[[Any], None]) -> None:
        """Call `callback(obj)` with every object the cache takes in (listed or changed),
        kept or not: a finished Execution that changed is passed on before it leaves."""
        self._subscribers.append(callback)

    def listen(self, listener: Callable[[list[WatchEvent], bool], None]) -> None:
        """Call `listener(events, relisted)` after each sync that applied changes.

        `relisted` is True when the cache was rebuilt from a fresh list (at the first sync,
        or after the store forgot the changes since this informer's version): a listener
        that keeps its own view must then read again. Listeners run on the syncing thread
        and must be quick; they let the server and the metrics follow the store without a
        watch of their own.
        """
        self._listeners.append(listener)

    def _tell(self, events: list[WatchEvent], relisted: bool) -> None:
        for listener in self._listeners:
            listener(events, relisted)

    # -- what stays ------------------------------------------------------------------------

    def _keeps(self, obj: Any) -> bool:
        if obj.kind == Suspension.KIND:
            # open gates; a sleep's end is on its Execution (`waitingOn.until`)
            return not obj.status.resolved and obj.spec.resume_at is None
        if obj.kind != Execution.KIND or not obj.terminal:
            return True
        if obj.status.phase in ("Canceled", "Skipped") and obj.status.waiting_on is not None:
            return True  # its jobs may still run: the controller stops them
        if obj.metadata.uid in self._live_children:
            return True  # its children are canceled with it
        return any(ref.uid in self._unfinished_uids() for ref in _exec_owners(obj))

    def _unfinished_uids(self) -> _UidView:
        return _UidView(self._by_uid)

    def _put(self, obj: Any) -> None:
        for callback in self._subscribers:
            callback(obj)
        key = (obj.metadata.namespace, obj.metadata.name)
        self._unlink(obj.kind, key)
        if not self._keeps(obj):
            self._after_change(obj)
            return
        parked = obj.kind == Execution.KIND and obj.status.phase == "Suspended"
        entry = _Packed(obj) if parked else obj
        self._by_kind[obj.kind][key] = entry
        if obj.metadata.uid:
            self._by_uid[obj.metadata.uid] = entry
        if obj.kind == Execution.KIND:
            owners = _exec_owners(obj)
            if obj.terminal:
                for ref in owners:
                    self._kept_children[ref.uid].add(key)
            else:
                self._unfinished[key] = entry
                if obj.status.phase in ("Pending", "Executing"):
                    self._runnable[key] = obj
                for ref in owners:
                    self._live_children[ref.uid].add(key)
        self._after_change(obj)

    def _unlink(self, kind: str, key: _Key) -> Any | None:
        """Take an object out of every index (nothing else)."""
        old = self._by_kind[kind].pop(key, None)
        if old is None:
            return None
        uid = _uid(old) or ""
        if self._by_uid.get(uid) is old:
            del self._by_uid[uid]
        if kind == Execution.KIND:
            self._unfinished.pop(key, None)
            self._runnable.pop(key, None)
            for owner in _owner_uids(old):
                for index in (self._live_children, self._kept_children):
                    keys = index.get(owner)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del index[owner]
        return old

    def _after_change(self, obj: Any) -> None:
        """Re-decide what stays among the Executions related to a changed one."""
        if obj.kind != Execution.KIND:
            return
        for ref in _owner_uids(obj):  # an owner kept for its live children may go now
            owner = self._by_uid.get(ref)
            if owner is not None and owner.terminal and not self._keeps(owner):
                self._drop_object(owner)
        uid = _uid(obj) or ""
        if obj.terminal:  # finished children kept for it go when it finishes too
            for key in list(self._kept_children.get(uid, ())):
                child = self._by_kind[Execution.KIND].get(key)
                if child is not None and not self._keeps(child):
                    self._drop_object(child)

    def _drop_object(self, obj: Any) -> None:
        self._unlink(obj.kind, (obj.metadata.namespace, obj.metadata.name))
        self._after_change(obj)

    def _drop(self, kind: str, key: _Key) -> None:
        old = self._unlink(kind, key)
        if old is not None:
            self._after_change(old)

    # -- list and watch --------------------------------------------------------------------

    def _relist(self) -> None:
        version = self.store.current_version()
        self._by_kind = {kind: {} for kind in self.kinds}
        self._by_uid.clear()
        self._unfinished.clear()
        self._runnable.clear()
        self._live_children.clear()
        self._kept_children.clear()
        for cls in self.kinds.values():
            if cls is Suspension:
                continue  # read on demand (`fetch`): the open ones belong to parked work
            phases = LIVE_PHASES if cls is Execution else None
            for obj in self.store.list(cls, self.namespace, phases=phases):
                self._put(obj)
        # Finished owners that unfinished children still need (a cancel to pass on).
        for ex in map(_load, list(self._unfinished.values())):
            for ref in _exec_owners(ex):
                if ref.uid not in self._by_uid:
                    owner = self.fetch(Execution, ex.metadata.namespace, ref.name)
                    if owner is not None and owner.metadata.uid != ref.uid:
                        self._drop_object(owner)  # a newer namesake, not the owner
        self._version = version
        self.changes += 1
        self.relists += 1

    def sync(self, timeout: float = 0.0) -> int:
        """Apply changes since the last sync, waiting up to `timeout` s for the first one.

        Returns how many changes were applied. Listeners are told in chunks of at most
        _TELL_EVERY changes, so a sync that catches up on many changes never holds them
        all at once.
        """
        if self._version is None:
            self._relist()
            self._tell([], True)
            return 0
        events: list[WatchEvent] = []
        applied = 0
        keep = bool(self._listeners)
        try:
            for ev in self.store.watch(
                self._version, tuple(self.kinds), self.namespace, timeout=timeout
            ):
                applied += 1
                self.changes += 1
                self._version = ev.resource_version
                if ev.type == "DELETED":
                    self._drop(ev.kind, (ev.namespace, ev.name))
                else:
                    self._put(self.kinds[ev.kind].model_validate(ev.object))
                if keep:
                    events.append(ev)
                    if len(events) >= _TELL_EVERY:
                        self._tell(events, False)
                        events = []
        except GoneError:
            self._relist()
            self._tell(events, True)
            return applied
        if events:
            self._tell(events, False)
        return applied

    # -- reading ---------------------------------------------------------------------------

    def of(self, cls: type[Any]) -> list[Any]:
        """Cached resources of one kind (for Executions: the live ones and those kept)."""
        return [_load(obj) for obj in self._by_kind[cls.KIND].values()]

    def get(self, cls: type[Any], namespace: str, name: str) -> Any | None:
        """One cached resource, or None (it may still be in the store: see `fetch`)."""
        return _load(self._by_kind[cls.KIND].get((namespace, name)))

    def fetch(self, cls: type[Any], namespace: str, name: str, *, keep: bool = True) -> Any | None:
        """One resource from the cache, else from the store (None if it does not exist).

        What is read is cached when the cache would keep it (and `keep`), so a finished
        child its live parent waits on is read from the store once.
        """
        cached = self._by_kind[cls.KIND].get((namespace, name))
        if cached is not None:
            return _load(cached)
        try:
            obj = self.store.get(cls, namespace, name)
        except NotFoundError:
            return None
        if keep:
            self._put(obj)
        return obj

    def by_uid(self, uid: str) -> Any | None:
        """A cached resource by its uid, or None."""
        return _load(self._by_uid.get(uid))

    def unfinished(self) -> list[Execution]:
        """Executions that are not Completed, Failed or Canceled."""
        return [_load(obj) for obj in self._unfinished.values()]

    def live_children(self, uid: str) -> list[Execution]:
        """The unfinished child Executions of the Execution with `uid`."""
        cached = self._by_kind[Execution.KIND]
        return [_load(cached[key]) for key in self._live_children.get(uid, ()) if key in cached]

    def runnable(self) -> list[Execution]:
        """Executions that are Pending or Executing (a worker may claim them)."""
        return list(self._runnable.values())

    def keys(self, cls: type[Any]) -> list[_Key]:
        """(namespace, name) of the cached resources of one kind (nothing is read back)."""
        return list(self._by_kind[cls.KIND])

    def count_unfinished(self) -> int:
        """How many unfinished Executions the cache holds (nothing is read back)."""
        return len(self._unfinished)

    def size(self) -> int:
        """How many objects the cache holds."""
        return sum(len(objs) for objs in self._by_kind.values())


class _UidView:
    """`uid in view`: whether that uid is a cached, unfinished Execution."""

    __slots__ = ("_by_uid",)

    def __init__(self, by_uid: dict[str, Any]) -> None:
        self._by_uid = by_uid

    def __contains__(self, uid: object) -> bool:
        obj = self._by_uid.get(uid)  # type: ignore[call-overload]
        return obj is not None and obj.kind == Execution.KIND and not obj.terminal


def _exec_owners(obj: Any) -> list[Any]:
    return [ref for ref in obj.metadata.owner_references if ref.kind == Execution.KIND]
