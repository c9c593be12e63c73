"""The store contract (watch): changes since a version, filtered, woken, and Gone."""

from __future__ import annotations

import threading
import time

import pytest

from kontinue.api import Execution, Function, FunctionSpec, ObjectMeta
from kontinue.store import GoneError, Store
from tests.store._backends import StoreTarget
from tests.store._objects import changes, execution, names, suspension


def test_watch_yields_added_modified_deleted_in_order_after_a_version(store: Store) -> None:
    store.create(execution("before"))
    since = store.current_version()

    created = store.create(execution("watched"))
    created.metadata.labels["seen"] = "yes"
    updated = store.update(created)
    updated.status.message = "working"
    status = store.update_status(updated)
    store.delete(Execution, "default", "watched")

    events = list(store.watch(since, timeout=5.0))
    while len(events) < 4:  # a backend may deliver the changes in several batches
        more = list(store.watch(events[-1].resource_version, timeout=5.0))
        assert more, f"only {len(events)} of 4 changes arrived"
        events += more
    assert [(e.type, e.kind, e.namespace, e.name) for e in events] == [
        ("ADDED", "Execution", "default", "watched"),
        ("MODIFIED", "Execution", "default", "watched"),
        ("MODIFIED", "Execution", "default", "watched"),
        ("DELETED", "Execution", "default", "watched"),
    ]
    assert [e.resource_version for e in events[:3]] == [
        m.metadata.resource_version for m in (created, updated, status)
    ]
    assert len({e.resource_version for e in events}) == 4
    assert events[0].object["metadata"]["labels"] == {}
    assert events[1].object["metadata"]["labels"] == {"seen": "yes"}
    assert events[2].object["status"]["message"] == "working"
    assert events[3].object["metadata"]["name"] == "watched"
    assert Execution.model_validate(events[2].object) == status


def test_watch_filters_by_kind_and_namespace(store: Store) -> None:
    since = store.current_version()
    ex = store.create(execution("ex-a", namespace="a"))
    store.create(execution("ex-b", namespace="b"))
    store.create(suspension("sus-a", ex))
    store.create(Function(metadata=ObjectMeta(name="fn-a", namespace="a"), spec=FunctionSpec()))

    assert changes(store, since, 1, kinds=("Suspension",)) == [("ADDED", "Suspension", "sus-a")]
    assert changes(store, since, 1, namespace="b") == [("ADDED", "Execution", "ex-b")]
    # Changes of one kind come in order; across kinds, Kubernetes orders each resource type
    # on its own stream, so only the set is part of the contract.
    assert sorted(changes(store, since, 2, kinds=("Execution", "Function"), namespace="a")) == [
        ("ADDED", "Execution", "ex-a"),
        ("ADDED", "Function", "fn-a"),
    ]


def test_watch_with_a_timeout_and_no_changes_returns_no_events(store: Store) -> None:
    store.create(execution("old"))
    since = store.current_version()
    store.create(execution("elsewhere", namespace="elsewhere"))

    assert list(store.watch(since, timeout=0.3, namespace="default")) == []
    assert list(store.watch(store.current_version(), timeout=0.3)) == []
    assert list(store.watch(timeout=0.0)) == []


def test_watch_without_a_version_starts_from_the_call(store: Store) -> None:
    store.create(execution("earlier"))
    watch = store.watch(timeout=10.0)

    store.create(execution("later"))

    assert [(e.type, e.name) for e in watch] == [("ADDED", "later")]


def test_watch_from_the_version_of_a_list_sees_what_follows(store: Store) -> None:
    store.create(execution("listed"))
    version = store.current_version()
    assert names(store.list(Execution)) == {"listed"}

    store.create(execution("next"))

    assert changes(store, version, 1) == [("ADDED", "Execution", "next")]


def test_a_waiting_watch_is_woken_by_a_write_from_another_thread(store: Store) -> None:
    since = store.current_version()
    writing = threading.Thread(target=_create_soon, args=(store, "late"))
    writing.start()
    try:
        events = list(store.watch(since, timeout=60.0))
    finally:
        writing.join()

    assert [(e.type, e.name) for e in events] == [("ADDED", "late")]


def _create_soon(store: Store, name: str) -> None:
    time.sleep(0.2)  # let the watcher block first; the assertion does not depend on it
    store.create(execution(name))


def test_watch_since_a_version_no_longer_kept_raises_gone(
    store: Store, target: StoreTarget
) -> None:
    start = store.current_version()
    first = store.create(execution("first"))
    second = store.create(execution("second"))
    store.create(execution("third"))

    kept_after = second.metadata.resource_version
    assert kept_after is not None

    target.forget_changes_through(kept_after)

    for stale in (start, first.metadata.resource_version):
        with pytest.raises(GoneError):
            list(store.watch(stale, timeout=0.0))
    assert changes(store, kept_after, 1) == [("ADDED", "Execution", "third")]


def test_watch_raises_gone_even_when_every_change_was_forgotten(
    store: Store, target: StoreTarget
) -> None:
    first = store.create(execution("first"))
    store.create(execution("second"))
    newest = store.current_version()

    target.forget_changes_through(newest)

    with pytest.raises(GoneError):
        list(store.watch(first.metadata.resource_version, timeout=0.0))
    assert int(store.current_version()) >= int(newest)  # forgetting never goes back
    assert list(store.watch(newest, timeout=0.0)) == []
    store.create(execution("third"))
    assert changes(store, newest, 1) == [("ADDED", "Execution", "third")]
