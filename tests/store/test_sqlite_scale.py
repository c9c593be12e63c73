"""The SQLite store at scale: indexed lookups, streamed lists, bulk batches, group commit and
wake-ups across processes. Work is measured in SQLite VM instructions or counted commits,
never in seconds."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from kontinue.api import Execution, ExecutionStatus
from kontinue.store import DB_FILE, FencedError, SQLiteStore, open_store
from tests.store._objects import execution, running


def _finished(store: SQLiteStore, count: int, prefix: str = "old") -> None:
    """`count` Completed Executions labelled like finished fan-out children, in one batch."""
    with store.batch():
        for i in range(count):
            ex = execution(
                f"{prefix}-{i}", labels={"kontinue.cloud/parent": f"{prefix}-p{i // 50}"}
            )
            ex.status = ExecutionStatus(phase="Completed", result=i)
            store.create(ex)


def _read_steps(store: SQLiteStore, action: Callable[[], object]) -> int:
    """VM instructions the store's read connection runs for `action` (white-box)."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._rdb.set_progress_handler(tick, 1)
    try:
        action()
    finally:
        store._rdb.set_progress_handler(None, 1)
    return steps


def test_label_and_phase_lookups_cost_the_same_whatever_the_history(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        for i in range(3):
            store.create(execution(f"live-{i}", labels={"kontinue.cloud/parent": "p"}))

        def by_label() -> object:
            return store.list(Execution, "default", {"kontinue.cloud/parent": "p"})

        def by_phase() -> object:
            return store.list(Execution, "default", phases=("Pending", "Executing"))

        label_before, phase_before = _read_steps(store, by_label), _read_steps(store, by_phase)
        _finished(store, 3000)
        label_after, phase_after = _read_steps(store, by_label), _read_steps(store, by_phase)

        assert [e.metadata.name for e in by_label()] == ["live-0", "live-1", "live-2"]  # type: ignore[attr-defined]
        assert len(by_phase()) == 3  # type: ignore[arg-type]
        assert label_after <= label_before * 1.1 + 20, (label_before, label_after)
        assert phase_after <= phase_before * 1.1 + 20, (phase_before, phase_after)
        # ... while a scan of every object would have grown with them
        everything = _read_steps(store, lambda: store.list(Execution, "default"))
        assert everything > 50 * label_after
    finally:
        store.close()


def test_a_label_selector_with_several_clauses_matches_all_of_them(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        store.create(execution("both", labels={"a": "1", "b": "2"}))
        store.create(execution("only-a", labels={"a": "1", "b": "3"}))
        store.create(execution("other-ns", namespace="x", labels={"a": "1", "b": "2"}))

        assert [e.metadata.name for e in store.list(Execution, "default", "a=1,b=2")] == ["both"]
        assert [e.metadata.name for e in store.list(Execution, None, "a=1,b=2")] == [
            "both",
            "other-ns",
        ]
        assert [e.metadata.name for e in store.list(Execution, "default", "a=1,b!=2")] == ["only-a"]
        changed = store.get(Execution, "default", "only-a")
        changed.metadata.labels = {"a": "1", "b": "2"}
        store.update(changed)
        assert len(store.list(Execution, "default", "a=1,b=2")) == 2
        store.delete(Execution, "default", "both")
        assert [e.metadata.name for e in store.list(Execution, "default", "b=2")] == ["only-a"]
    finally:
        store.close()


def test_a_file_from_before_the_label_index_is_indexed_when_opened(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.create(execution("old", labels={"team": "a"}))
    store.close()
    with closing(sqlite3.connect(tmp_path / DB_FILE)) as db, db:  # as version 1 left it
        db.execute("DROP TABLE labels")
        db.execute("PRAGMA user_version=0")

    store = open_store(tmp_path)
    try:
        assert [e.metadata.name for e in store.list(Execution, None, "team=a")] == ["old"]
    finally:
        store.close()


def test_iterate_streams_every_object_in_key_order_page_by_page(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        names = [f"ex-{i:02d}" for i in range(10)]
        for name in reversed(names):
            store.create(execution(name, labels={"k": "v"}))
        pages = store.iterate(Execution, "default", page=3)
        assert [e.metadata.name for e in pages] == names
        assert [e.metadata.name for e in store.iterate(Execution, None, "k=v", page=4)] == names
    finally:
        store.close()


def test_a_batch_is_all_or_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with pytest.raises(RuntimeError), store.batch():
            store.create(execution("a"))
            store.create(execution("b"))
            raise RuntimeError("half way")
        assert store.list(Execution) == []
        with store.batch():
            store.create(execution("a"))
            store.create(execution("b"))
        assert len(store.list(Execution)) == 2
    finally:
        store.close()


def test_concurrent_journal_appends_share_commits_and_keep_their_own_errors(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path)
    try:
        for i in range(8):
            running(store, f"ex-{i}")
        commits = 0

        def count(statement: str) -> None:
            nonlocal commits
            commits += statement.strip().upper() == "COMMIT"

        store._db.set_trace_callback(count)  # white-box: the write connection
        errors: dict[int, BaseException] = {}

        def append(i: int) -> None:
            try:
                holder = "worker-1" if i != 3 else "not-the-holder"
                store.append_journal("default", f"ex-{i}", 0, {"seq": 0, "i": i}, holder)
            except BaseException as exc:
                errors[i] = exc

        # While a write holds the connection, the appends queue: the first leads a group of
        # itself, and all seven others commit together after it.
        with store._wlock:
            threads = [threading.Thread(target=append, args=(i,)) for i in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(store._group_pending) < 7 and time.monotonic() < deadline:
                time.sleep(0.01)
        for t in threads:
            t.join(30)
        store._db.set_trace_callback(None)

        assert set(errors) == {3} and isinstance(errors[3], FencedError)
        assert commits == 2
        for i in range(8):
            entries = store.read_journal("default", f"ex-{i}")
            assert entries == ([] if i == 3 else [{"seq": 0, "i": i}])
    finally:
        store.close()


def test_a_watch_in_another_store_wakes_on_a_commit_without_polling(tmp_path: Path) -> None:
    writer = open_store(tmp_path)
    # a poll so slow that only a wake-up can end the watch within the test's patience
    watcher = SQLiteStore(tmp_path / DB_FILE, poll_interval=3600)
    try:
        assert watcher._wake.enabled
        since = watcher.current_version()
        seen: list[str] = []

        def watch() -> None:
            seen.extend(ev.name for ev in watcher.watch(since, timeout=120))

        thread = threading.Thread(target=watch)
        thread.start()
        while watcher._wake._thread is None:  # listening
            time.sleep(0.01)
        writer.create(execution("hello"))
        thread.join(60)
        assert not thread.is_alive(), "the watch was not woken"
        assert seen == ["hello"]
    finally:
        watcher.close()
        writer.close()
    assert list((tmp_path / f"{DB_FILE}-wake").iterdir()) == []  # markers removed on close
