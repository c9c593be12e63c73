"""The embedded store: every resource, change and journal entry in one SQLite file.

Durability: WAL with `synchronous=FULL`, so a write this store acknowledged is on disk and
survives `kill -9` of every process. Several processes may share the file; writers take the
database lock with `BEGIN IMMEDIATE`, so compare-and-swap checks and writes are atomic.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kontinue.api import KINDS, Resource
from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    FencedError,
    GoneError,
    NotFoundError,
    StoreUnavailableError,
)
from kontinue.store._protocol import R, WatchEvent
from kontinue.store._selectors import Selector, parse_selector

__all__ = ["DB_FILE", "SQLiteStore"]

DB_FILE = "kontinue.db"
_EVENTS_KEPT = 50_000
_WATCH_BATCH = 1000
_BUSY_SECONDS = 60.0  # how long a write waits for another process's write lock
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    uid TEXT NOT NULL UNIQUE, rv INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS owners (
    owner_uid TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (owner_uid, kind, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS owners_by_dependent ON owners (kind, namespace, name);
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, kind TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    uid TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (uid, seq)
) WITHOUT ROWID;
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SQLiteStore:
    """A `Store` on one SQLite file, safe for several threads and processes at once."""

    def __init__(
        self,
        path: str | Path,
        *,
        now: Callable[[], datetime] = _utcnow,
        poll_interval: float = 0.02,
    ) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StoreUnavailableError(
                f"state directory {self.path.parent} does not exist; create it or pass "
                "--state-dir / set KONTINUE_HOME to an existing directory"
            )
        self._now = now
        self._last_created: datetime | None = None
        self._poll = poll_interval
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(f"cannot open the state file {self.path}: {exc}") from exc
        try:
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            with self._tx(begin=True) as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreUnavailableError(f"cannot open the state file {self.path}: {exc}") from exc

    def _enable_wal(self) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite reports "database
        # is locked" at once, without its busy handler, while another process is switching
        # it too: retry for as long as a write would wait.
        deadline = time.monotonic() + _BUSY_SECONDS
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    # -- plumbing -------------------------------------------------------------------------

    class _Tx:
        """Holds the connection's lock and, with `begin`, one transaction ("IMMEDIATE" to
        write: it takes the database's write lock up front, so a compare-and-swap reads and
        writes under one lock; "DEFERRED" for a consistent multi-statement read)."""

        def __init__(self, store: SQLiteStore, begin: str | None, notify: bool = True) -> None:
            self.store, self.begin, self.notify = store, begin, notify

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            if self.begin:
                try:
                    self.store._db.execute(f"BEGIN {self.begin}")
                except BaseException:
                    # e.g. "database is locked" after the busy timeout: without this the
                    # lock stays held and every later call of this store blocks for ever.
                    self.store._lock.release()
                    raise
            return self.store._db

        def __exit__(self, exc_type: object, *_: object) -> None:
            db = self.store._db
            try:
                if self.begin and not exc_type:
                    try:
                        db.execute("COMMIT")
                    except BaseException:
                        if db.in_transaction:
                            db.execute("ROLLBACK")
                        raise
                    if self.begin == "IMMEDIATE" and self.notify:
                        self.store._changed.notify_all()
                elif self.begin and db.in_transaction:
                    # SQLite may already have rolled back (SQLITE_FULL, IOERR...); a second
                    # ROLLBACK would then raise and hide the original error.
                    db.execute("ROLLBACK")
            finally:
                self.store._lock.release()

    def _tx(self, begin: bool = False, notify: bool = True) -> SQLiteStore._Tx:
        return SQLiteStore._Tx(self, "IMMEDIATE" if begin else None, notify)

    def _snapshot(self) -> SQLiteStore._Tx:
        return SQLiteStore._Tx(self, "DEFERRED")

    @staticmethod
    def _newest(db: sqlite3.Connection) -> int:
        # The AUTOINCREMENT counter: the newest version ever handed out, even when the
        # events holding it were pruned.
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        return int(row[0]) if row else 0

    def _event(self, db: sqlite3.Connection, type_: str, body: dict[str, Any]) -> tuple[int, str]:
        """Record a change inside a write transaction; return its version and the body text.

        The version is known before the insert (the write lock is held), so the body is
        serialised once, with its resourceVersion, for both the event and the object row.
        """
        meta = body["metadata"]
        rv = self._newest(db) + 1
        meta["resourceVersion"] = str(rv)
        text = json.dumps(body)
        db.execute(
            "INSERT INTO events (rv, type, kind, namespace, name, body) VALUES (?,?,?,?,?,?)",
            (rv, type_, body["kind"], meta["namespace"], meta["name"], text),
        )
        # Pruning is keyed on the shared version, not on a per-process count, so changes
        # are pruned even when every writer is a short-lived process.
        if rv % 1000 == 0:
            db.execute("DELETE FROM events WHERE rv <= ?", (rv - _EVENTS_KEPT,))
        return rv, text

    @staticmethod
    def _load(cls: type[R], body: str) -> R:
        return cls.model_validate_json(body)

    # -- Store ----------------------------------------------------------------------------

    def create(self, obj: R) -> R:
        body = obj.wire()
        meta = body["metadata"]
        meta.setdefault("namespace", "default")
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._creation_time().isoformat()
        meta["generation"] = 1
        meta.pop("resourceVersion", None)
        with self._tx(begin=True) as db:
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise ValueError(f"{obj.kind} needs metadata.name or metadata.generateName")
                meta["name"] = self._generated_name(db, obj.kind, meta)
            key = (obj.kind, meta["namespace"], meta["name"])
            if db.execute(
                "SELECT 1 FROM objects WHERE kind=? AND namespace=? AND name=?", key
            ).fetchone():
                raise AlreadyExistsError(*key)
            rv, text = self._event(db, "ADDED", body)
            db.execute(
                "INSERT INTO objects (kind, namespace, name, uid, rv, body) VALUES (?,?,?,?,?,?)",
                (*key, meta["uid"], rv, text),
            )
            for ref in meta.get("ownerReferences", []):
                db.execute("INSERT OR IGNORE INTO owners VALUES (?,?,?,?)", (ref["uid"], *key))
        return type(obj).model_validate(body)

    def _creation_time(self) -> datetime:
        """Now, but strictly after the previous creation here, so creation order is total
        even on a clock that stands still (virtual time in tests)."""
        with self._lock:
            now = self._now()
            if self._last_created is not None and now <= self._last_created:
                now = self._last_created + timedelta(microseconds=1)
            self._last_created = now
            return now

    def _generated_name(self, db: sqlite3.Connection, kind: str, meta: dict[str, Any]) -> str:
        for _ in range(20):
            suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
            name = f"{meta['generateName']}{suffix}"
            if not db.execute(
                "SELECT 1 FROM objects WHERE kind=? AND namespace=? AND name=?",
                (kind, meta["namespace"], name),
            ).fetchone():
                return name
        raise AlreadyExistsError(kind, meta["namespace"], meta["generateName"] + "*")

    def get(self, cls: type[R], namespace: str, name: str) -> R:
        with self._tx() as db:
            row = db.execute(
                "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?",
                (cls.KIND, namespace, name),
            ).fetchone()
        if row is None:
            raise NotFoundError(cls.KIND, namespace, name)
        return self._load(cls, row[0])

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
    ) -> builtins.list[R]:
        sel = parse_selector(selector)
        sql, args = "SELECT body FROM objects WHERE kind=?", [cls.KIND]
        if namespace is not None:
            sql += " AND namespace=?"
            args.append(namespace)
        for key, value in sel.equalities().items():
            sql += " AND json_extract(body, ?) = ?"
            args += [f'$.metadata.labels."{key}"', value]
        with self._tx() as db:
            rows = db.execute(sql + " ORDER BY namespace, name", args).fetchall()
        out = [self._load(cls, r[0]) for r in rows]
        return [o for o in out if sel.matches(o.metadata.labels)] if sel.requirements else out

    def _replace(self, obj: R, part: str) -> R:
        incoming = obj.wire()
        meta = incoming["metadata"]
        key = (obj.kind, meta.get("namespace", "default"), meta["name"])
        with self._tx(begin=True) as db:
            row = db.execute(
                "SELECT rv, body FROM objects WHERE kind=? AND namespace=? AND name=?", key
            ).fetchone()
            if row is None:
                raise NotFoundError(*key)
            stored = json.loads(row[1])
            if meta.get("resourceVersion") != str(row[0]):
                raise ConflictError(
                    f'{key[0]} "{key[2]}" was modified meanwhile (your resourceVersion '
                    f"{meta.get('resourceVersion')}, stored {row[0]}); re-read it and try again"
                )
            if part == "status":
                stored["status"] = incoming.get("status", {})
            else:
                kept = stored["metadata"]
                # The server owns identity and generation; a client cannot rewrite them.
                keep = {k: kept[k] for k in ("uid", "creationTimestamp", "name") if k in kept}
                keep["generation"] = int(kept.get("generation", 1))
                if incoming.get("spec") != stored.get("spec"):
                    keep["generation"] += 1
                stored = {**incoming, "status": stored.get("status")}
                stored["metadata"].update(keep)
                if stored["status"] is None:
                    del stored["status"]
                db.execute("DELETE FROM owners WHERE kind=? AND namespace=? AND name=?", key)
                for ref in stored["metadata"].get("ownerReferences", []):
                    db.execute("INSERT OR IGNORE INTO owners VALUES (?,?,?,?)", (ref["uid"], *key))
            rv, text = self._event(db, "MODIFIED", stored)
            db.execute(
                "UPDATE objects SET rv=?, body=? WHERE kind=? AND namespace=? AND name=?",
                (rv, text, *key),
            )
        return type(obj).model_validate(stored)

    def update(self, obj: R) -> R:
        return self._replace(obj, "main")

    def update_status(self, obj: R) -> R:
        return self._replace(obj, "status")

    def delete(self, cls: type[Resource], namespace: str, name: str) -> None:
        with self._tx(begin=True) as db:
            row = db.execute(
                "SELECT uid FROM objects WHERE kind=? AND namespace=? AND name=?",
                (cls.KIND, namespace, name),
            ).fetchone()
            if row is None:
                raise NotFoundError(cls.KIND, namespace, name)
            self._delete_tree(db, (cls.KIND, namespace, name), row[0], set())

    def _delete_tree(
        self, db: sqlite3.Connection, key: tuple[str, str, str], uid: str, doomed: set[str]
    ) -> None:
        """Delete an object and, as Kubernetes' garbage collector does, every dependent left
        without an owner; `doomed` holds the uids going in this cascade (ownership may loop)."""
        doomed.add(uid)
        for *child, child_uid in db.execute(
            "SELECT o.kind, o.namespace, o.name, o.uid FROM owners w JOIN objects o "
            "ON o.kind=w.kind AND o.namespace=w.namespace AND o.name=w.name "
            "WHERE w.owner_uid=?",
            (uid,),
        ).fetchall():
            if child_uid in doomed:
                continue
            owners = db.execute(
                "SELECT w.owner_uid FROM owners w JOIN objects o ON o.uid = w.owner_uid "
                "WHERE w.kind=? AND w.namespace=? AND w.name=?",
                child,
            ).fetchall()
            if all(owner in doomed for (owner,) in owners):
                self._delete_tree(db, (child[0], child[1], child[2]), child_uid, doomed)
        row = db.execute(
            "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", key
        ).fetchone()
        self._event(db, "DELETED", json.loads(row[0]))
        db.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?", key)
        db.execute("DELETE FROM owners WHERE kind=? AND namespace=? AND name=?", key)
        db.execute("DELETE FROM owners WHERE owner_uid=?", (uid,))
        db.execute("DELETE FROM journal WHERE uid=?", (uid,))

    def current_version(self) -> str:
        with self._tx() as db:
            return str(self._newest(db))

    def watch(
        self,
        since: str | None = None,
        kinds: tuple[str, ...] | None = None,
        namespace: str | None = None,
        timeout: float = 0.0,
    ) -> Iterator[WatchEvent]:
        # Not a generator itself: the start version and the deadline are fixed when watch()
        # is called, not when the caller first iterates.
        after = int(since) if since is not None else int(self.current_version())
        return self._watch(after, kinds, namespace, time.monotonic() + timeout)

    def _watch(
        self,
        after: int,
        kinds: tuple[str, ...] | None,
        namespace: str | None,
        deadline: float,
    ) -> Iterator[WatchEvent]:
        while True:
            with self._changed:
                rows = self._changes_after(after)
                if not rows:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    # Still holding the lock taken for the read, so a write of this process
                    # cannot slip in between the read and the wait; other processes' writes
                    # are seen by polling.
                    self._changed.wait(min(self._poll, remaining))
                    continue
            found = False
            for rv, type_, kind, ns, name, body in rows:
                after = rv
                if (kinds and kind not in kinds) or (namespace and ns != namespace):
                    continue
                found = True
                yield WatchEvent(type_, kind, ns, name, str(rv), json.loads(body))
            if len(rows) < _WATCH_BATCH and (found or time.monotonic() >= deadline):
                return

    def _changes_after(self, after: int) -> builtins.list[tuple[Any, ...]]:
        """The next batch of changes after `after`, read in one snapshot with the Gone check
        (a prune committed between two separate reads would otherwise hide a gap)."""
        with self._snapshot() as db:
            oldest = db.execute("SELECT min(rv) FROM events").fetchone()[0]
            first_kept = int(oldest) if oldest is not None else self._newest(db) + 1
            if after < first_kept - 1:
                raise GoneError(
                    f"changes since version {after} are no longer kept (the oldest kept is "
                    f"{first_kept}); list again and watch from the version the list returned"
                )
            return db.execute(
                "SELECT rv, type, kind, namespace, name, body FROM events WHERE rv > ? "
                "ORDER BY rv LIMIT ?",
                (after, _WATCH_BATCH),
            ).fetchall()

    def append_journal(
        self, namespace: str, name: str, seq: int, entry: Mapping[str, Any], holder: str
    ) -> None:
        text = json.dumps(entry, separators=(",", ":"))
        # a journal row is no watch event: waking watchers for it would only cost them
        with self._tx(begin=True, notify=False) as db:
            # One indexed lookup and one B-tree insert: the cost does not grow with the
            # journal's length (the last seq is read from the end of the primary key).
            row = db.execute(
                "SELECT o.uid, json_extract(o.body, '$.status.lease.holder'), "
                "json_extract(o.body, '$.status.phase'), "
                "(SELECT j.seq FROM journal j WHERE j.uid = o.uid ORDER BY j.seq DESC LIMIT 1) "
                "FROM objects o WHERE o.kind='Execution' AND o.namespace=? AND o.name=?",
                (namespace, name),
            ).fetchone()
            if row is None:
                raise NotFoundError("Execution", namespace, name)
            uid, lease_holder, phase, last = row
            if phase != "Executing" or lease_holder != holder:
                raise FencedError(
                    f'Execution "{name}" is {phase} and held by {lease_holder or "no worker"}, '
                    f"not by {holder}; this worker must stop running it",
                    phase,
                )
            expected = 0 if last is None else int(last) + 1
            if seq < expected:
                raise ConflictError(
                    f'step {seq} of Execution "{name}" was already recorded by another worker'
                )
            if seq > expected:
                raise ConflictError(
                    f'step {seq} of Execution "{name}" is not the next position ({expected}); '
                    "the journal this worker replayed is stale"
                )
            db.execute("INSERT INTO journal (uid, seq, body) VALUES (?,?,?)", (uid, seq, text))

    def read_journal(self, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT j.body FROM journal j JOIN objects o ON o.uid = j.uid "
                "WHERE o.kind='Execution' AND o.namespace=? AND o.name=? ORDER BY j.seq",
                (namespace, name),
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


assert KINDS  # the kinds this store serves are the api's
