"""The mutex reconciler: grants mutexes and function slots first come, first served.

A mutex has one holder; a function with `concurrency.limit` N has a semaphore of N slots.
A holder keeps it until its Execution ends (canceled and deleted ones too). A function slot
goes only to an Execution that already holds its mutex, so that no Execution sits on a slot
while it waits for a mutex. The reconciler keeps the unfinished Executions that want a
mutex or a slot, and runs when one of them, or a Mutex, changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from kontinue.api import Execution, Mutex, MutexSpec, ObjectMeta
from kontinue.runtime._mutex import (
    FUNCTION_KEY,
    MUTEX_KEY,
    WAITING_FOR_SLOT,
    WAITING_PREFIX,
    mutex_resource_name,
    semaphore_resource_name,
)
from kontinue.runtime._reconciler import Reconciler, Shared, key_of
from kontinue.runtime._timers import Key

__all__ = ["MutexReconciler"]


class MutexReconciler(Reconciler):
    """Grants Mutexes and function slots, frees the ones nobody wants any more."""

    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self._wanting: set[Key] = set()  # unfinished Executions with a mutex or a limit
        self.dirty = True

    def noticed(self, ex: Execution) -> None:
        """An Execution changed: note whether it wants a mutex or a slot."""
        key = key_of(ex)
        wants = not ex.terminal and (
            ex.spec.mutex is not None or self.defaults.limit(ex) is not None
        )
        if wants:
            self._wanting.add(key)
            self.dirty = True
        elif key in self._wanting:
            self._wanting.discard(key)
            self.dirty = True

    def gone(self, key: Key) -> None:
        """An Execution was deleted: what it held is free."""
        if key in self._wanting:
            self._wanting.discard(key)
            self.dirty = True

    def relisted(self, unfinished: list[Execution]) -> None:
        """Take the wanting Executions anew from the whole cache."""
        self._wanting.clear()
        for ex in unfinished:
            self.noticed(ex)
        self.dirty = True

    def reconcile(self, now: datetime) -> int:
        """Grant and free as the queues say; returns the writes made."""
        self.dirty = False
        executions = [
            ex for k in self._wanting if (ex := self.informer.get(Execution, *k)) is not None
        ]
        order = sorted(
            (e for e in executions if not e.terminal),
            key=lambda e: (e.metadata.creation_timestamp or now, e.metadata.name),
        )
        mutex_queues: defaultdict[tuple[str, str], list[Execution]] = defaultdict(list)
        for ex in order:
            if ex.spec.mutex is not None:
                mutex_queues[(ex.metadata.namespace, ex.spec.mutex.name)].append(ex)
        writes = 0
        wanted = {(ns, mutex_resource_name(k)) for (ns, k) in mutex_queues}
        holding: set[tuple[str, str]] = set()
        for (ns, key), queue in mutex_queues.items():
            waits, got = self._grant(ns, mutex_resource_name(key), queue, 1, {MUTEX_KEY: key})
            writes += waits
            holding.update((ns, n) for n in got)
            holder = got[0] if got else None
            for position, ex in enumerate(queue):
                if ex.metadata.name in got or ex.status.phase != "Pending":
                    continue
                message = f"{WAITING_PREFIX}{key} held by {holder} ({position} ahead in the queue)"
                if ex.status.message != message:
                    writes += self.attempt_write(self.write, ex, _say(message))
        fn_queues: defaultdict[tuple[str, str, int], list[Execution]] = defaultdict(list)
        for ex in order:
            limit = self.defaults.limit(ex)
            if limit is None:
                continue
            if (
                ex.spec.mutex is not None
                and (ex.metadata.namespace, ex.metadata.name) not in holding
            ):
                continue
            fn_queues[(ex.metadata.namespace, ex.spec.function, limit)].append(ex)
        for (ns, fn, limit), queue in fn_queues.items():
            name = semaphore_resource_name(fn)
            wanted.add((ns, name))
            waits, got = self._grant(ns, name, queue, limit, {FUNCTION_KEY: fn})
            writes += waits
            waiting = [e for e in queue if e.metadata.name not in got]
            for position, ex in enumerate(waiting, start=1):
                if ex.status.phase != "Pending":
                    continue
                message = (
                    f"{WAITING_FOR_SLOT}{fn} (concurrency limit {limit}, running: "
                    f"{', '.join(got)}; {position - 1} ahead in the queue)"
                )
                if ex.status.message != message:
                    writes += self.attempt_write(self.write, ex, _say(message))
        for mutex in self.informer.of(Mutex):  # nobody wants it any more: free it
            held = mutex.status.holders or mutex.status.holder
            if held and (mutex.metadata.namespace, mutex.metadata.name) not in wanted:
                draft = mutex.model_copy(deep=True)
                draft.status.holder = None
                draft.status.holders = []
                writes += self.attempt_write(self.store.update_status, draft)
        return writes

    def _grant(
        self, ns: str, name: str, queue: list[Execution], limit: int, annotations: dict[str, str]
    ) -> tuple[int, list[str]]:
        """Keep the holders still in `queue`, fill free places in queue order.

        Returns the writes made and the holders; until the Mutex resource exists (the first
        pass creates it) nobody holds it.
        """
        current: Mutex | None = self.informer.get(Mutex, ns, name)
        if current is None:
            meta = ObjectMeta(name=name, namespace=ns, annotations=annotations)
            return self.attempt_write(
                self.store.create, Mutex(metadata=meta, spec=MutexSpec(limit=limit))
            ), []
        names = [e.metadata.name for e in queue]
        held = current.status.holders or ([current.status.holder] if current.status.holder else [])
        holders = [h for h in held if h in names]
        for candidate in names:
            if len(holders) >= limit:
                break
            if candidate not in holders:
                holders.append(candidate)
        first = holders[0] if holders else None
        if holders == held and current.status.holder == first and current.spec.limit == limit:
            return 0, holders
        draft = current.model_copy(deep=True)
        draft.status.holders = holders
        draft.status.holder = holders[0] if holders else None
        writes = self.attempt_write(self.store.update_status, draft)
        if draft.spec.limit != limit:
            draft = self.store.get(Mutex, ns, name)
            draft.spec.limit = limit
            writes += self.attempt_write(self.store.update, draft)
        return writes, holders


def _say(message: str) -> Callable[[Execution], None]:
    def mutate(ex: Execution) -> None:
        ex.status.message = message

    return mutate
