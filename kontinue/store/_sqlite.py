"""The embedded store: every resource, change and journal entry in one SQLite file.

Durability: WAL with `synchronous=FULL`, so a write this store acknowledged is on disk and
survives `kill -9` of every process. Several processes may share the file; writers take the
database lock with `BEGIN IMMEDIATE`, so compare-and-swap checks and writes are atomic.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import secrets
import sqlite3
import string
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kontinue.api._files import atomic_write_json
from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    FencedError,
    GoneError,
    NotFoundError,
    StorageFaultError,
    StoreUnavailableError,
)
from kontinue.store._faults import fault, guarded, guarded_iter, read_only_filesystem
from kontinue.store._limits import check_execution, check_journal_entry, max_result_bytes
from kontinue.store._protocol import R, WatchEvent
from kontinue.store._selectors import Selector, parse_selector
from kontinue.store._wakeups import Wakeups

if TYPE_CHECKING:
    from kontinue.api import JournalEntry, Resource, StepEntry

__all__ = ["DB_FILE", "SQLiteStore"]

DB_FILE = "kontinue.db"
_EVENTS_KEPT = 50_000
_WATCH_BATCH = 1000
_BUSY_SECONDS = 60.0  # how long a write waits for another process's write lock
_SAFETY_POLL = 1.0  # seconds between checks for changes when wake-ups work
_FALLBACK_POLL = 0.02  # ... and where they do not (no Unix sockets)
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRETS_DIR = "secrets"
SECRET_ANNOTATION = "kontinue.cloud/secret"
"""On an Execution: the name of the secret holding its secret arguments."""

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
    namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    uid TEXT, generation INTEGER
);
CREATE TABLE IF NOT EXISTS event_specs (
    uid TEXT NOT NULL, generation INTEGER NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (uid, generation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    uid TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (uid, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS labels (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (kind, key, value, namespace, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_by_object ON labels (kind, namespace, name);
CREATE INDEX IF NOT EXISTS objects_by_phase ON objects (kind, json_extract(body, '$.status.phase'));
"""
# Version 2 added the labels table and the phase index; a file of version 1 has its labels
# indexed once when it is opened. Version 3 keeps each spec of the change log once, in
# `event_specs`, keyed by (uid, generation): an event row holds the rest of the object and,
# in `uid`/`generation`, which spec goes with it (both NULL: the row holds the whole body).
# A status write of an Execution with a 1 MB spec then adds a status-sized row, not 1 MB.
_SCHEMA_VERSION = 3
_EVENT_SPEC_INDEX = "CREATE INDEX IF NOT EXISTS events_by_spec ON events (uid, generation)"
_PHASE = "json_extract(body, '$.status.phase')"  # the indexed expression, spelled alike


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Request:
    """One op waiting for a group commit, and its outcome."""

    __slots__ = ("done", "error", "op")

    def __init__(self, op: Callable[[sqlite3.Connection], None]) -> None:
        self.op = op
        self.done = False
        self.error: BaseException | None = None

    def outcome(self) -> None:
        if self.error is not None:
            raise self.error


class SQLiteStore:
    """A `Store` on one SQLite file, safe for several threads and processes at once.

    Two connections: writes go through one (under a lock), reads through the other, so a
    read never waits for a write's fsync (WAL readers see the last commit). Journal appends
    of concurrent threads are committed in groups: one transaction and one fsync for all the
    appends waiting at that moment, each call returning once its own row is durable.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        now: Callable[[], datetime] = _utcnow,
        poll_interval: float | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise StoreUnavailableError(
                f"state directory {self.path.parent} does not exist; create it or pass "
                "--state-dir / set KONTINUE_HOME to an existing directory"
            )
        self._now = now
        self._last_created: datetime | None = None
        self._clock_lock = threading.Lock()
        self._wlock = threading.RLock()  # the write connection and its transaction
        self._rlock = threading.RLock()  # the read connection
        self._tx_owner: int | None = None  # the thread inside a write transaction
        self._tx_changed = False  # that transaction wrote a watch event
        # Watchers wait on `_changed` for `_generation` to move: bumped after every commit
        # of a change here, and by the wake-up listener for other processes' commits.
        self._changed = threading.Condition(threading.Lock())
        self._generation = 0
        # group commit of journal appends
        self._group_cond = threading.Condition(threading.Lock())
        self._group_pending: builtins.list[_Request] = []
        self._group_leader = False
        self._wake = Wakeups(self.path, self._woken)
        self.read_only = False
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc
        try:
            self._enable_wal()
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=OFF")
            with self._tx(begin=True) as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version < 2:
                    self._index_all_labels(db)
                if version < 3:
                    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
                    if "uid" not in columns:
                        db.execute("ALTER TABLE events ADD COLUMN uid TEXT")
                        db.execute("ALTER TABLE events ADD COLUMN generation INTEGER")
                db.execute(_EVENT_SPEC_INDEX)
                if version < _SCHEMA_VERSION:
                    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            self._rdb = self._connect()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if not self._open_read_only(exc):
                raise self._open_error(exc) from exc
        self._identity = _identity(self.path)
        if poll_interval is None:
            # Other processes' changes arrive as wake-ups; the poll only backs them up.
            poll_interval = _SAFETY_POLL if self._wake.enabled else _FALLBACK_POLL
        self._poll = poll_interval

    def _open_error(self, exc: sqlite3.Error) -> StoreUnavailableError:
        return fault(exc, self.path) or StoreUnavailableError(
            f"cannot open the state file {self.path}: {exc}"
        )

    def _open_read_only(self, exc: sqlite3.Error) -> bool:
        """On a file or directory this process may not write, open the store to read only.

        Reads work (`list`, `get`, `tree`, `logs`); every write raises a StorageFaultError
        that says the store is read-only. Nobody can write such a file through this mount, so
        SQLite may read it as immutable, without the -shm file it could not create.
        """
        translated = fault(exc, self.path)
        if translated is None or translated.reason not in ("read-only", "cannot-open"):
            return False
        writable = os.access(self.path.parent, os.W_OK) and (
            not self.path.exists() or os.access(self.path, os.W_OK)
        )
        if self.path.exists() is False or (writable and not read_only_filesystem(self.path)):
            return False
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro&immutable=1"
        try:
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            self._db.execute("SELECT count(*) FROM objects").fetchone()
            self._rdb = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            return False
        self.read_only = True
        return True

    def verify(self) -> None:
        """Raise StorageFaultError if the state file was deleted or replaced since it was opened.

        A worker that carried on into an unlinked file would run work nobody can see, while
        new Executions wait in the new file for ever: it must stop instead.
        """
        now = _identity(self.path)
        if now == self._identity:
            return
        what = "deleted" if now is None else "replaced by another file"
        raise StorageFaultError(
            f"the state file {self.path} was {what} while this process used it; stopping, so "
            "that no work goes to a file nobody reads (restore it, or start again on the new "
            "one)",
            "gone",
        )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )

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

    @contextmanager
    def _tx(self, begin: bool = False, notify: bool = True) -> Iterator[sqlite3.Connection]:
        """The write connection under its lock; with `begin`, inside one write transaction.

        "BEGIN IMMEDIATE" takes the database's write lock up front, so a compare-and-swap
        reads and writes under one lock. A transaction opened by `batch()` on this thread is
        joined instead: its writes commit with the batch.
        """
        with self._wlock:
            if not begin or self._tx_owner == threading.get_ident():
                if begin and notify:
                    self._tx_changed = True
                yield self._db
                return
            self._begin()
            self._tx_changed = notify
            try:
                yield self._db
            except BaseException:
                self._rollback()
                raise
            self._commit()

    def _begin(self) -> None:
        # e.g. "database is locked" after the busy timeout raises here, with nothing held
        self._db.execute("BEGIN IMMEDIATE")
        self._tx_owner = threading.get_ident()

    def _rollback(self) -> None:
        self._tx_owner = None
        # SQLite may already have rolled back (SQLITE_FULL, IOERR...); a second ROLLBACK
        # would then raise and hide the original error.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _commit(self) -> None:
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        self._tx_owner = None
        if self._tx_changed:
            self._tx_changed = False
            self._announce()

    def _announce(self) -> None:
        """After a commit of changes: wake this process's watchers and the other processes."""
        self._woken()
        self._wake.notify()

    def _woken(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make every write of this thread inside the block one transaction: one fsync.

        For bulk loads (imports, benchmarks): all or nothing, and other writers (threads and
        processes) wait until the block ends. Reads inside the block do not see its writes.
        """
        with self._tx(begin=True, notify=False):
            yield

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._rlock:
            yield self._rdb

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A consistent multi-statement read."""
        with self._rlock:
            self._rdb.execute("BEGIN DEFERRED")
            try:
                yield self._rdb
            finally:
                self._rdb.execute("COMMIT")

    def _group(self, op: Callable[[sqlite3.Connection], None]) -> None:
        """Run `op` in a write transaction shared with the other threads' waiting ops.

        The first thread to arrive while no group is committing leads: it takes every op
        queued so far, runs each in its own savepoint (one op's error is its own), and
        commits them with one fsync. The others wait for their op's outcome; ops that
        arrive meanwhile form the next group. Returns once `op` is durable, or raises its
        error (or the commit's).
        """
        if self._tx_owner == threading.get_ident():
            op(self._db)  # inside this thread's batch()
            return
        request = _Request(op)
        with self._group_cond:
            self._group_pending.append(request)
            while not request.done and self._group_leader:
                self._group_cond.wait()
            if request.done:
                request.outcome()
                return
            self._group_leader = True
            group, self._group_pending = self._group_pending, []
        try:
            self._commit_group(group)
        finally:
            with self._group_cond:
                self._group_leader = False
                self._group_cond.notify_all()
        request.outcome()

    def _commit_group(self, group: builtins.list[_Request]) -> None:
        try:
            with self._wlock:
                self._begin()
                self._tx_changed = False
                try:
                    for request in group:
                        self._db.execute("SAVEPOINT op")
                        try:
                            request.op(self._db)
                        except Exception as exc:
                            request.error = exc
                            self._db.execute("ROLLBACK TO op")
                        self._db.execute("RELEASE op")
                except BaseException:
                    self._rollback()
                    raise
                self._commit()
        except BaseException as exc:
            for request in group:
                if request.error is None:
                    request.error = exc
        finally:
            for request in group:
                request.done = True

    @staticmethod
    def _newest(db: sqlite3.Connection) -> int:
        # The AUTOINCREMENT counter: the newest version ever handed out, even when the
        # events holding it were pruned.
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='events'").fetchone()
        return int(row[0]) if row else 0

    def _event(self, db: sqlite3.Connection, type_: str, body: dict[str, Any]) -> tuple[int, str]:
        """Record a change inside a write transaction; return its version and the body text.

        The version is known before the insert (the write lock is held), so the body gets its
        resourceVersion before it is serialised for the object row. The event row holds the
        body without its spec; the spec is kept once per (uid, generation) in `event_specs`
        (the generation moves whenever the spec does), so a status write never copies it.
        """
        meta = body["metadata"]
        rv = self._newest(db) + 1
        meta["resourceVersion"] = str(rv)
        text = json.dumps(body)
        uid, generation = meta.get("uid"), meta.get("generation")
        if "spec" in body and uid is not None and generation is not None:
            rest = json.dumps({k: v for k, v in body.items() if k != "spec"})
            if not db.execute(
                "SELECT 1 FROM event_specs WHERE uid=? AND generation=?", (uid, generation)
            ).fetchone():
                db.execute(
                    "INSERT INTO event_specs (uid, generation, spec) VALUES (?,?,?)",
                    (uid, generation, json.dumps(body["spec"])),
                )
        else:
            rest, uid, generation = text, None, None
        db.execute(
            "INSERT INTO events (rv, type, kind, namespace, name, body, uid, generation) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (rv, type_, body["kind"], meta["namespace"], meta["name"], rest, uid, generation),
        )
        # Pruning is keyed on the shared version, not on a per-process count, so changes
        # are pruned even when every writer is a short-lived process.
        if rv % 1000 == 0:
            db.execute("DELETE FROM events WHERE rv <= ?", (rv - _EVENTS_KEPT,))
            db.execute(
                "DELETE FROM event_specs WHERE NOT EXISTS (SELECT 1 FROM events e "
                "WHERE e.uid = event_specs.uid AND e.generation = event_specs.generation)"
            )
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
            check_execution(body, spec=True, status=True)
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
            self._index_labels(db, key, meta.get("labels") or {})
        return type(obj).model_validate(body)

    def _creation_time(self) -> datetime:
        """Now, but strictly after the previous creation here, so creation order is total
        even on a clock that stands still (virtual time in tests)."""
        with self._clock_lock:
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

    @staticmethod
    def _index_labels(
        db: sqlite3.Connection, key: tuple[str, str, str], labels: Mapping[str, str]
    ) -> None:
        db.execute("DELETE FROM labels WHERE kind=? AND namespace=? AND name=?", key)
        db.executemany(
            "INSERT INTO labels (kind, key, value, namespace, name) VALUES (?,?,?,?,?)",
            ((key[0], k, str(v), key[1], key[2]) for k, v in labels.items()),
        )

    def _index_all_labels(self, db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT kind, namespace, name, body FROM objects").fetchall()
        for kind, namespace, name, body in rows:
            labels = json.loads(body).get("metadata", {}).get("labels") or {}
            self._index_labels(db, (kind, namespace, name), labels)

    def get(self, cls: type[R], namespace: str, name: str) -> R:
        with self._read() as db:
            # fetchall, not fetchone: a statement left unfinished would keep its read
            # transaction open, and later reads would see that old snapshot
            rows = db.execute(
                "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?",
                (cls.KIND, namespace, name),
            ).fetchall()
        row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(cls.KIND, namespace, name)
        return self._load(cls, row[0])

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
    ) -> builtins.list[R]:
        return builtins.list(self.iterate(cls, namespace, selector, phases=phases))

    def iterate(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[R]:
        """`list`, one object at a time: memory holds one page, not the whole answer.

        Pages are read in key order by key ranges (not OFFSET), each in its own snapshot,
        like a Kubernetes list with `limit` and `continue`: an object changed while the
        iteration runs is seen as it was in the page that held it.
        """
        sel = parse_selector(selector)
        for body in self._bodies(cls.KIND, namespace, sel, phases, page):
            obj = self._load(cls, body)
            if not sel.requirements or sel.matches(obj.metadata.labels):
                yield obj

    def iterate_wire(
        self,
        kind: str,
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """`iterate` without the models: each object as the JSON-plain dict it is stored as."""
        sel = parse_selector(selector)
        for body in self._bodies(kind, namespace, sel, phases, page):
            obj: dict[str, Any] = json.loads(body)
            if not sel.requirements or sel.matches(obj["metadata"].get("labels") or {}):
                yield obj

    def _bodies(
        self,
        kind: str,
        namespace: str | None,
        sel: Selector,
        phases: Collection[str] | None,
        page: int,
    ) -> Iterator[str]:
        """The stored bodies a list selects (labels' `key=value` clauses and phases by the
        indexes; the caller matches the other clauses), read page by page."""
        sql, args = self._list_query(kind, namespace, sel, phases)
        t = "l" if sel.equalities() else "o"  # the table whose keys drive the query
        after: tuple[str, str] = ("", "")
        while True:
            with self._read() as db:
                rows = db.execute(
                    f"{sql} AND ({t}.namespace, {t}.name) > (?, ?) "
                    f"ORDER BY {t}.namespace, {t}.name LIMIT ?",
                    [*args, *after, page],
                ).fetchall()
            for _, _, body in rows:
                yield body
            if len(rows) < page:
                return
            after = (rows[-1][0], rows[-1][1])

    @staticmethod
    def _list_query(
        kind: str, namespace: str | None, sel: Selector, phases: Collection[str] | None
    ) -> tuple[str, builtins.list[Any]]:
        """SQL for the objects of a kind, narrowed by the indexes: labels (`key=value`
        clauses, the first drives the query) and phase. Other clauses are matched after."""
        equalities = builtins.list(sel.equalities().items())
        args: builtins.list[Any] = []
        if equalities:
            key, value = equalities.pop(0)
            sql = (
                # CROSS JOIN: SQLite then keeps the labels as the outer loop (the index
                # lookup), whatever it guesses about the tables' sizes
                "SELECT o.namespace, o.name, o.body FROM labels l CROSS JOIN objects o "
                "ON o.kind = l.kind AND o.namespace = l.namespace AND o.name = l.name "
                "WHERE l.kind=? AND l.key=? AND l.value=?"
            )
            args += [kind, key, value]
            if namespace is not None:
                sql += " AND l.namespace=?"
                args.append(namespace)
        else:
            # with phases, the phase index (SQLite may otherwise walk every object in key
            # order to spare itself a sort)
            hint = " INDEXED BY objects_by_phase" if phases is not None else ""
            sql = f"SELECT o.namespace, o.name, o.body FROM objects o{hint} WHERE o.kind=?"
            args.append(kind)
            if namespace is not None:
                sql += " AND o.namespace=?"
                args.append(namespace)
        for key, value in equalities:
            sql += (
                " AND EXISTS (SELECT 1 FROM labels m WHERE m.kind=o.kind AND "
                "m.namespace=o.namespace AND m.name=o.name AND m.key=? AND m.value=?)"
            )
            args += [key, value]
        if phases is not None:
            wanted = sorted(set(phases))
            sql += f" AND {_PHASE.replace('body', 'o.body')} IN ({','.join('?' * len(wanted))})"
            args += wanted
        return sql, args

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
                status = incoming.get("status") or {}
                if status.get("result") != (stored.get("status") or {}).get("result"):
                    check_execution(incoming, spec=False, status=True)
                stored["status"] = status
            else:
                if incoming.get("spec") != stored.get("spec"):
                    check_execution(incoming, spec=True, status=False)
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
                self._index_labels(db, key, stored["metadata"].get("labels") or {})
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
            deleted: builtins.list[dict[str, Any]] = []
            self._delete_tree(db, (cls.KIND, namespace, name), row[0], set(), deleted)
        self._drop_secrets(deleted)

    def _delete_tree(
        self,
        db: sqlite3.Connection,
        key: tuple[str, str, str],
        uid: str,
        doomed: set[str],
        deleted: builtins.list[dict[str, Any]],
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
                self._delete_tree(db, (child[0], child[1], child[2]), child_uid, doomed, deleted)
        row = db.execute(
            "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", key
        ).fetchone()
        body = json.loads(row[0])
        deleted.append(body)
        self._event(db, "DELETED", body)
        db.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?", key)
        db.execute("DELETE FROM owners WHERE kind=? AND namespace=? AND name=?", key)
        db.execute("DELETE FROM owners WHERE owner_uid=?", (uid,))
        db.execute("DELETE FROM labels WHERE kind=? AND namespace=? AND name=?", key)
        db.execute("DELETE FROM journal WHERE uid=?", (uid,))

    def current_version(self) -> str:
        with self._snapshot() as db:
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
                seen = self._generation
            rows = self._changes_after(after)
            if not rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # A change committed after `seen` was read (here, or in another process
                # that sent a wake-up) moved the generation: then read again at once.
                self._wake.listen()
                with self._changed:
                    if self._generation == seen:
                        self._changed.wait(min(self._poll, remaining))
                continue
            found = False
            for rv, type_, kind, ns, name, body, spec in rows:
                after = rv
                if (kinds and kind not in kinds) or (namespace and ns != namespace):
                    continue
                found = True
                obj = json.loads(body)
                if spec is not None:
                    obj["spec"] = json.loads(spec)
                yield WatchEvent(type_, kind, ns, name, str(rv), obj)
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
            # the kind is filtered by the caller: reading a spec a watcher skips costs a copy
            return db.execute(
                "SELECT e.rv, e.type, e.kind, e.namespace, e.name, e.body, s.spec FROM events e "
                "LEFT JOIN event_specs s ON s.uid = e.uid AND s.generation = e.generation "
                "WHERE e.rv > ? ORDER BY e.rv LIMIT ?",
                (after, _WATCH_BATCH),
            ).fetchall()

    def append_journal(
        self,
        namespace: str,
        name: str,
        seq: int,
        entry: Mapping[str, Any] | StepEntry,
        holder: str,
    ) -> None:
        from kontinue.api._journal import StepEntry  # the models load with the first step

        plain = entry.wire() if isinstance(entry, StepEntry) else entry
        text = json.dumps(plain, separators=(",", ":"))
        check_journal_entry(name, plain, len(text), max_result_bytes())

        # Committed in a group with the appends of other threads (see `_group`); a journal
        # row is no watch event: waking watchers for it would only cost them.
        def append(db: sqlite3.Connection) -> None:
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

        self._group(append)

    def read_journal(self, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        # one parse of one JSON array: half the time of a parse per entry
        return list(json.loads(self._journal_text(namespace, name)))

    def read_entries(self, namespace: str, name: str) -> builtins.list[JournalEntry]:
        from kontinue.api._journal import parse_journal_json

        # typed straight from the stored text by pydantic-core: no dicts in between
        return parse_journal_json(self._journal_text(namespace, name))

    def _journal_text(self, namespace: str, name: str) -> str:
        """The journal as one JSON array of its stored entries."""
        with self._read() as db:
            rows = db.execute(
                "SELECT j.body FROM journal j JOIN objects o ON o.uid = j.uid "
                "WHERE o.kind='Execution' AND o.namespace=? AND o.name=? ORDER BY j.seq",
                (namespace, name),
            ).fetchall()
        return "[" + ",".join(r[0] for r in rows) + "]"

    # -- secrets ----------------------------------------------------------------------------

    def _secret_file(self, namespace: str, name: str) -> Path:
        if not all(c.isalnum() or c in "-." for c in f"{namespace}{name}") or ".." in name:
            raise ValueError(f"invalid secret name {namespace}/{name}")
        return self.path.parent / _SECRETS_DIR / f"{namespace}_{name}.json"

    def write_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """A file of mode 0600 in `secrets/` (0700) beside the state file, written whole
        (a staging file, fsync, rename): the values never enter kontinue.db or its WAL."""
        path = self._secret_file(namespace, name)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
        atomic_write_json(path, dict(data))  # a temporary file of mode 0600, then a rename

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            text = self._secret_file(namespace, name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError("Secret", namespace, name) from None
        return dict(json.loads(text))

    def adopt_secret(self, namespace: str, name: str, owner: Resource) -> None:
        """Nothing to record: the owner names its secret (annotation `kontinue.cloud/secret`)
        and `delete` removes the file with it."""

    def _drop_secrets(self, bodies: builtins.list[dict[str, Any]]) -> None:
        for body in bodies:
            meta = body.get("metadata") or {}
            secret = (meta.get("annotations") or {}).get(SECRET_ANNOTATION)
            if secret:
                with contextlib.suppress(OSError, ValueError):
                    self._secret_file(meta.get("namespace", "default"), secret).unlink()

    def close(self) -> None:
        self._wake.close()
        with self._wlock, self._rlock:
            self._db.close()
            self._rdb.close()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


for _name in (
    "create",
    "get",
    "list",
    "update",
    "update_status",
    "delete",
    "current_version",
    "append_journal",
    "read_journal",
    "read_entries",
):
    if hasattr(SQLiteStore, _name):
        setattr(SQLiteStore, _name, guarded(getattr(SQLiteStore, _name)))
for _name in ("iterate", "iterate_wire", "watch"):
    if hasattr(SQLiteStore, _name):
        setattr(SQLiteStore, _name, guarded_iter(getattr(SQLiteStore, _name)))
