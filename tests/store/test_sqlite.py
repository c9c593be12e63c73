"""What only the SQLite backend promises: its state directory, its file and its per-step cost."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from kontinue.api import Execution, ExecutionSpec, ObjectMeta
from kontinue.store import (
    DB_FILE,
    SQLiteStore,
    StoreUnavailableError,
    default_state_dir,
    open_store,
)
from tests.store import _children
from tests.store._backends import StoreTarget
from tests.store._objects import running
from tests.store._processes import SPAWN, results, start


def test_a_missing_state_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "state"

    with pytest.raises(StoreUnavailableError, match=str(missing)):
        open_store(missing)
    with pytest.raises(StoreUnavailableError, match=str(missing)):
        SQLiteStore(missing / DB_FILE)
    assert not missing.exists()


def test_open_store_create_makes_the_directory_and_the_file(tmp_path: Path) -> None:
    state = tmp_path / "deep" / "state"

    store = open_store(state, create=True)
    try:
        store.create(Execution(metadata=ObjectMeta(name="x"), spec=ExecutionSpec(function="f")))
    finally:
        store.close()

    assert (state / DB_FILE).is_file()
    reopened = open_store(state)
    try:
        assert reopened.get(Execution, "default", "x").spec.function == "f"
    finally:
        reopened.close()


def test_default_state_dir_honours_kontinue_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KONTINUE_HOME", str(home))

    assert default_state_dir() == home
    store = open_store()
    store.close()
    assert (home / DB_FILE).is_file()


def test_default_state_dir_is_dot_kontinue_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KONTINUE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)

    assert default_state_dir().resolve() == tmp_path / ".kontinue"
    with pytest.raises(StoreUnavailableError, match=r"\.kontinue"):
        open_store()
    open_store(create=True).close()
    assert (tmp_path / ".kontinue" / DB_FILE).is_file()


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not a SQLite database, just some bytes" * 100)

    with pytest.raises(StoreUnavailableError, match=str(tmp_path / DB_FILE)):
        open_store(tmp_path)


def test_the_file_is_in_wal_mode_and_commits_sync_fully(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        # white-box: `synchronous` belongs to the store's own connection
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()

    with closing(sqlite3.connect(tmp_path / DB_FILE)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _vm_steps(store: SQLiteStore, action: Callable[[], None]) -> int:
    """SQLite virtual-machine instructions `action` runs: a measure of work, not of time."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._db.set_progress_handler(tick, 1)  # white-box: the store's own connection
    try:
        action()
    finally:
        store._db.set_progress_handler(None, 1)
    return steps


def test_append_journal_cost_does_not_grow_with_the_journal(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        short = running(store, "short")
        long = running(store, "long")
        store.append_journal("default", "short", 0, {"seq": 0}, "worker-1")
        # 20,000 earlier steps, written straight into the file through a second connection.
        with closing(sqlite3.connect(tmp_path / DB_FILE)) as db, db:
            db.executemany(
                "INSERT INTO journal (uid, seq, body) VALUES (?, ?, ?)",
                ((long.metadata.uid, seq, f'{{"seq":{seq}}}') for seq in range(20_000)),
            )

        at_1 = _vm_steps(store, lambda: store.append_journal("default", "short", 1, {}, "worker-1"))
        at_20k = _vm_steps(
            store, lambda: store.append_journal("default", "long", 20_000, {}, "worker-1")
        )

        assert len(store.read_journal("default", "long")) == 20_001
        assert short.metadata.uid != long.metadata.uid
        assert at_20k <= at_1 + 10, f"{at_1} instructions at step 1, {at_20k} at step 20,000"
    finally:
        store.close()


@pytest.mark.slow
def test_processes_opening_a_new_state_file_at_once_all_succeed(tmp_path: Path) -> None:
    workers, files = 6, 30
    targets = [StoreTarget("sqlite", str(tmp_path / f"{i}.db")) for i in range(files)]
    barrier = SPAWN.Barrier(workers)

    children = [start(_children.open_and_create, targets, barrier) for _ in range(workers)]
    created = [name for child in children for name in results(*child)]

    assert len(created) == workers * files
    for target in targets:
        store = target.open()
        try:
            assert len(store.list(Execution)) == workers
        finally:
            store.close()
