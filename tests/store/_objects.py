"""Resources the store tests write, and small readers of what a store holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kontinue.api import (
    Execution,
    ExecutionSpec,
    Lease,
    ObjectMeta,
    Resource,
    Suspension,
    SuspensionSpec,
)
from kontinue.store import Store, WatchEvent

__all__ = ["changes", "claim", "execution", "names", "running", "suspension"]


def execution(
    name: str = "",
    *,
    generate_name: str | None = None,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    owners: tuple[Resource, ...] = (),
    function: str = "greet",
) -> Execution:
    meta = ObjectMeta(
        name=name,
        generate_name=generate_name,
        namespace=namespace,
        labels=labels or {},
        # as Kubernetes requires, at most one owner is the controller
        owner_references=[
            o.owner_reference().model_copy(update={"controller": i == 0})
            for i, o in enumerate(owners)
        ],
    )
    return Execution(metadata=meta, spec=ExecutionSpec(function=function, arguments={"n": 1}))


def suspension(name: str, owner: Execution) -> Suspension:
    # in its owner's namespace: Kubernetes garbage-collects a dependent whose owner is elsewhere
    meta = ObjectMeta(
        name=name, namespace=owner.namespace, owner_references=[owner.owner_reference()]
    )
    return Suspension(metadata=meta, spec=SuspensionSpec(execution=owner.name, step="gate"))


def running(store: Store, name: str, holder: str = "worker-1") -> Execution:
    """A new stored Execution in phase Executing, leased to `holder`."""
    return claim(store, store.create(execution(name)), holder)


def claim(store: Store, ex: Execution, holder: str = "worker-1") -> Execution:
    """`ex` moved to phase Executing and leased to `holder`, as a worker claims it."""
    now = datetime.now(UTC)
    ex.status.phase = "Executing"
    ex.status.lease = Lease(
        holder=holder, acquire_time=now, renew_time=now, expire_time=now + timedelta(minutes=5)
    )
    return store.update_status(ex)


def names(items: list[Execution]) -> set[str]:
    return {item.name for item in items}


def changes(store: Store, since: str, count: int, **filters: Any) -> list[tuple[str, str, str]]:
    """`(type, kind, name)` of the next `count` changes after `since` (or fewer after 30 s)."""
    events: list[WatchEvent] = []
    deadline = time.monotonic() + 30
    while len(events) < count and time.monotonic() < deadline:
        for event in store.watch(since, timeout=1.0, **filters):
            events.append(event)
            since = event.resource_version
    return [(e.type, e.kind, e.name) for e in events]
