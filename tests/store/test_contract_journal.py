"""The store contract (journal): fenced, ordered appends of an Execution's steps."""

from __future__ import annotations

import pytest

from kontinue.store import ConflictError, FencedError, NotFoundError, Store
from tests.store._objects import running


def test_append_journal_then_read_it_back_in_order(store: Store) -> None:
    running(store, "steps")
    running(store, "neighbour")
    entries = [{"seq": i, "name": f"step-{i}", "value": {"i": i}} for i in range(12)]

    for entry in entries:
        store.append_journal("default", "steps", entry["seq"], entry, "worker-1")
    store.append_journal("default", "neighbour", 0, {"seq": 0, "name": "x"}, "worker-1")

    assert store.read_journal("default", "steps") == entries
    assert store.read_journal("default", "neighbour") == [{"seq": 0, "name": "x"}]


def test_append_journal_by_a_worker_without_the_lease_is_fenced(store: Store) -> None:
    running(store, "leased", holder="worker-1")
    store.append_journal("default", "leased", 0, {"seq": 0}, "worker-1")

    with pytest.raises(FencedError) as caught:
        store.append_journal("default", "leased", 1, {"seq": 1}, "worker-2")

    assert caught.value.phase == "Executing"
    assert store.read_journal("default", "leased") == [{"seq": 0}]


@pytest.mark.parametrize("phase", ["Pending", "Suspended", "Backoff", "Canceled", "Completed"])
def test_append_journal_when_not_executing_is_fenced_with_the_phase(
    store: Store, phase: str
) -> None:
    ex = running(store, "parked")
    ex.status.phase = phase  # type: ignore[assignment]
    store.update_status(ex)

    with pytest.raises(FencedError) as caught:
        store.append_journal("default", "parked", 0, {"seq": 0}, "worker-1")

    assert caught.value.phase == phase
    assert store.read_journal("default", "parked") == []


def test_append_journal_of_a_taken_position_conflicts(store: Store) -> None:
    running(store, "twice")
    store.append_journal("default", "twice", 0, {"seq": 0, "by": "first"}, "worker-1")
    store.append_journal("default", "twice", 1, {"seq": 1, "by": "first"}, "worker-1")

    for seq in (0, 1):
        with pytest.raises(ConflictError):
            store.append_journal("default", "twice", seq, {"seq": seq, "by": "late"}, "worker-1")

    assert [e["by"] for e in store.read_journal("default", "twice")] == ["first", "first"]


def test_append_journal_past_the_next_position_conflicts(store: Store) -> None:
    running(store, "gap")
    store.append_journal("default", "gap", 0, {"seq": 0}, "worker-1")

    with pytest.raises(ConflictError):
        store.append_journal("default", "gap", 2, {"seq": 2}, "worker-1")

    assert store.read_journal("default", "gap") == [{"seq": 0}]


def test_append_journal_of_a_missing_execution_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.append_journal("default", "nobody", 0, {"seq": 0}, "worker-1")


def test_a_long_journal_reads_back_whole_and_in_order(store: Store) -> None:
    running(store, "long")
    entries = [
        {"seq": i, "name": f"step-{i}", "kind": "store", "result": {"i": i, "pad": "x" * (i % 7)}}
        for i in range(150)
    ]

    for entry in entries:
        store.append_journal("default", "long", entry["seq"], entry, "worker-1")

    assert store.read_journal("default", "long") == entries
    with pytest.raises(ConflictError):
        store.append_journal("default", "long", 149, {"seq": 149}, "worker-1")
    store.append_journal("default", "long", 150, {"seq": 150, "name": "last"}, "worker-1")
    assert store.read_journal("default", "long")[-1] == {"seq": 150, "name": "last"}


def test_large_values_in_the_journal_read_back_exactly(store: Store) -> None:
    running(store, "large")
    big = {"seq": 1, "name": "big", "kind": "store", "result": "é" * 60_000}
    entries = [{"seq": 0, "name": "small"}, big, {"seq": 2, "name": "after"}]

    for entry in entries:
        store.append_journal("default", "large", entry["seq"], entry, "worker-1")

    assert store.read_journal("default", "large") == entries


def test_a_new_holder_continues_the_journal_and_the_old_one_is_fenced(store: Store) -> None:
    ex = running(store, "handover", holder="worker-1")
    for seq in range(20):
        store.append_journal("default", "handover", seq, {"seq": seq, "by": 1}, "worker-1")

    from tests.store._objects import claim

    claim(store, store.get(type(ex), "default", "handover"), holder="worker-2")
    with pytest.raises(FencedError):
        store.append_journal("default", "handover", 20, {"seq": 20, "by": 1}, "worker-1")
    store.append_journal("default", "handover", 20, {"seq": 20, "by": 2}, "worker-2")

    assert [e["by"] for e in store.read_journal("default", "handover")] == [1] * 20 + [2]
