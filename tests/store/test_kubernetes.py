"""What only the Kubernetes store has to show: the journal stays small in etcd, values too
large for it are clear errors, journal objects belong to their Execution, 410 is recovered."""

from __future__ import annotations

import json
import time

import pytest

from kontinue.api import Execution
from kontinue.runtime import Informer
from kontinue.store import GoneError, Store, ValueTooLargeError
from tests.store._backends import StoreTarget
from tests.store._objects import execution, running

pytestmark = pytest.mark.backends("kubernetes")


def _raw_size(store: Store, name: str) -> int:
    obj = store.get_raw(Execution, "default", name)  # type: ignore[attr-defined]
    return len(json.dumps(obj))


def _journal_config_maps(store: Store, uid: str) -> list[dict[str, object]]:
    from kontinue.store._kubejournal import JOURNAL_LABEL

    items = store.core.list_namespaced_config_map(  # type: ignore[attr-defined]
        "default", label_selector=f"{JOURNAL_LABEL}={uid}"
    ).items
    return list(items)


def test_the_execution_object_stays_small_however_long_the_journal(store: Store) -> None:
    ex = running(store, "bounded")
    sizes = []
    for seq in range(400):
        entry = {"seq": seq, "name": f"step-{seq}", "kind": "store", "result": {"n": seq}}
        store.append_journal("default", "bounded", seq, entry, "worker-1")
        if seq % 50 == 49:
            sizes.append(_raw_size(store, "bounded"))

    assert max(sizes) < 12_000, sizes  # the tail is bounded, not the whole journal
    assert max(sizes) - min(sizes) < 4_000, sizes
    assert len(store.read_journal("default", "bounded")) == 400
    assert _journal_config_maps(store, ex.metadata.uid or "")


def test_one_status_patch_per_step_between_seals(store: Store) -> None:
    running(store, "cheap")
    store.append_journal("default", "cheap", 0, {"seq": 0}, "worker-1")
    before = store.requests  # type: ignore[attr-defined]
    for seq in range(1, 161):
        store.append_journal("default", "cheap", seq, {"seq": seq, "name": f"s{seq}"}, "worker-1")
    per_step = (store.requests - before) / 160  # type: ignore[attr-defined]

    assert per_step <= 1.1, per_step


def test_a_value_too_large_for_any_object_is_an_error_naming_the_step(store: Store) -> None:
    running(store, "huge")
    store.append_journal("default", "huge", 0, {"seq": 0, "name": "fine"}, "worker-1")

    with pytest.raises(ValueTooLargeError, match=r'step "fetch-report" of Execution "huge"'):
        store.append_journal(
            "default",
            "huge",
            1,
            {"seq": 1, "name": "fetch-report", "result": "x" * 1_200_000},
            "worker-1",
        )

    assert store.read_journal("default", "huge") == [{"seq": 0, "name": "fine"}]
    store.append_journal("default", "huge", 1, {"seq": 1, "name": "fetch-report"}, "worker-1")


def test_a_status_too_large_for_etcd_is_a_clear_error(store: Store) -> None:
    ex = running(store, "fat")
    ex.status.result = "y" * 2_000_000

    with pytest.raises(ValueTooLargeError, match="fat"):
        store.update_status(ex)


def test_journal_objects_are_garbage_collected_with_their_execution(store: Store) -> None:
    ex = running(store, "collected")
    for seq in range(40):
        store.append_journal("default", "collected", seq, {"seq": seq, "v": "z" * 3000}, "worker-1")
    uid = ex.metadata.uid or ""
    assert _journal_config_maps(store, uid)

    store.delete(Execution, "default", "collected")

    deadline = time.monotonic() + 60
    while _journal_config_maps(store, uid):
        assert time.monotonic() < deadline, "the journal ConfigMaps outlived their Execution"
        time.sleep(0.1)


def test_a_watch_from_a_version_the_server_no_longer_serves_is_gone_and_a_relist_recovers(
    store: Store, target: StoreTarget
) -> None:
    first = store.create(execution("first"))
    for i in range(3):
        store.create(execution(f"filler-{i}"))
    target.forget_changes_through(store.current_version())

    fresh = target.open()  # a client with no feed yet: its watch starts at the server
    try:
        with pytest.raises(GoneError):
            list(fresh.watch(first.metadata.resource_version, timeout=5.0))
        informer = Informer(fresh, (Execution,), "default")
        informer.sync()
        assert {e.name for e in informer.of(Execution)} == {
            "first",
            "filler-0",
            "filler-1",
            "filler-2",
        }
        store.create(execution("after"))
        deadline = time.monotonic() + 30
        while informer.get(Execution, "default", "after") is None:
            assert time.monotonic() < deadline
            informer.sync(timeout=1.0)
    finally:
        fresh.close()
