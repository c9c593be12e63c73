"""Issue 9 item 4: the embedded store's change log never copies a big spec into every change.

A status write of an Execution whose spec is 1 MB used to add the whole 1 MB object to the
`events` table (the database grew by the spec on every write). Each spec is now kept once per
(uid, generation); watches still deliver every change with the object as it was then.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from kontinue.api import Execution, ExecutionSpec, ObjectMeta
from kontinue.store import SQLiteStore

BLOB = "x" * 1_000_000


def _big(name: str) -> Execution:
    return Execution(
        metadata=ObjectMeta(name=name),
        spec=ExecutionSpec(function="f", arguments={"blob": BLOB}),
    )


def _checkpointed_size(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def test_status_writes_do_not_copy_a_1mb_spec_into_the_change_log(tmp_path: Path) -> None:
    path = tmp_path / "kontinue.db"
    store = SQLiteStore(path)
    try:
        ex = store.create(_big("big"))
        since = store.current_version()
        before = _checkpointed_size(path)
        for i in range(200):
            ex.status.message = f"step {i}"
            ex = store.update_status(ex)
        grown = _checkpointed_size(path) - before
        # 200 copies of the spec would be 200 MB; the object row's rewrite may keep one
        # spare copy of its pages (1 MB) and each change adds a status-sized row.
        assert grown < 3_000_000, f"the database grew {grown:,} bytes for 200 status writes"
        with closing(sqlite3.connect(path)) as db:
            logged = db.execute("SELECT sum(length(body)) FROM events").fetchone()[0]
            specs = db.execute("SELECT count(*) FROM event_specs").fetchone()[0]
        assert logged < 200_000, logged
        assert specs == 1
        # every change is still watched whole, in order, as it was then
        seen: list[str] = []
        while len(seen) < 200:
            events = list(store.watch(since, timeout=5.0))
            assert events, f"only {len(seen)} of 200 changes arrived"
            for event in events:
                assert event.object["spec"]["arguments"]["blob"] == BLOB
                seen.append(event.object["status"]["message"])
                since = event.resource_version
        assert seen == [f"step {i}" for i in range(200)]
    finally:
        store.close()


def test_a_spec_change_is_watched_with_the_new_spec_and_deletion_with_the_last(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "kontinue.db")
    try:
        since = store.current_version()
        ex = store.create(_big("big"))
        ex.spec.arguments = {"blob": "y"}
        ex = store.update(ex)
        ex.status.message = "after"
        store.update_status(ex)
        store.delete(Execution, "default", "big")
        events = list(store.watch(since, timeout=5.0))
        assert [(e.type, e.object["spec"]["arguments"]["blob"][:1]) for e in events] == [
            ("ADDED", "x"),
            ("MODIFIED", "y"),
            ("MODIFIED", "y"),
            ("DELETED", "y"),
        ]
        assert [e.object["metadata"]["generation"] for e in events] == [1, 2, 2, 2]
    finally:
        store.close()


def test_a_change_log_written_by_the_previous_schema_is_still_watched(tmp_path: Path) -> None:
    """A file of schema version 2 (whole bodies in `events`) opens, and its changes are
    delivered whole next to the new ones."""
    path = tmp_path / "kontinue.db"
    store = SQLiteStore(path)
    store.create(_big("old"))
    store.close()
    with closing(sqlite3.connect(path)) as db, db:
        # back to the version-2 layout: whole bodies, no spec columns
        body = db.execute("SELECT body FROM objects WHERE name='old'").fetchone()[0]
        db.execute("DROP TABLE events")
        db.execute("DROP TABLE event_specs")
        db.execute(
            "CREATE TABLE events (rv INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, "
            "kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO events (rv, type, kind, namespace, name, body) "
            "VALUES (1, 'ADDED', 'Execution', 'default', 'old', ?)",
            (body,),
        )
        db.execute("PRAGMA user_version=2")
    store = SQLiteStore(path)
    try:
        ex = store.get(Execution, "default", "old")
        ex.status.message = "new"
        store.update_status(ex)
        events = list(store.watch("0", timeout=5.0))
        assert [(e.type, e.object["spec"]["arguments"]["blob"] == BLOB) for e in events] == [
            ("ADDED", True),
            ("MODIFIED", True),
        ]
        assert events[1].object["status"]["message"] == "new"
    finally:
        store.close()
