"""`kontinue doctor`: check the state directory and fix what can be fixed, in one place.

Checks, in order: the database file (present, not empty, private), SQLite's integrity check,
Executions whose worker's lease ran out (a crashed worker), and local jobs still running for
an Execution that is gone or finished (orphans). `--fix` stops orphaned jobs, `--backup FILE`
writes a consistent copy with `VACUUM INTO` (the secret params beside it as `FILE.secrets`),
`--init` turns a zero-byte file into a new store.
Exit code: 0 healthy (or fixed), 1 problems remain, 2 the store cannot be read at all.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from kontinue.cli._errors import UsageError

__all__ = ["add_command", "doctor"]


def add_command(sub: argparse._SubParsersAction, add: object) -> None:  # type: ignore[type-arg]
    """Register `kontinue doctor`."""
    p = add("doctor", doctor, "check the state directory: integrity, leases, jobs, backups")  # type: ignore[operator]
    p.add_argument("--fix", action="store_true", help="stop orphaned jobs")
    p.add_argument(
        "--backup",
        metavar="FILE",
        help="write a consistent copy (VACUUM INTO; secret params to FILE.secrets)",
    )
    p.add_argument("--init", action="store_true", help="make a zero-byte kontinue.db a new store")


def _say(ok: bool, text: str) -> None:
    sys.stdout.write(f"{'ok  ' if ok else 'FAIL'} {text}\n")


def doctor(args: argparse.Namespace) -> int:
    from kontinue.store import DB_FILE, initialise_empty, privacy_warnings

    state = Path(args.state_dir)
    db = state / DB_FILE
    if not db.is_file():
        raise UsageError(f"no kontinue store at {db}; point --state-dir or KONTINUE_HOME at one")
    problems = 0
    if db.stat().st_size == 0:
        if not args.init:
            _say(False, f"{db} is empty (0 bytes): restore it from a backup, or run "
                 "`kontinue doctor --init` to start a new, empty store")  # fmt: skip
            return 1
        initialise_empty(state)
        _say(True, f"{db} was empty: it is a new, empty store now")
    for line in privacy_warnings(state):
        problems += 1
        _say(False, line.removeprefix("warning: "))
    check = _integrity(db)
    if check:
        _say(False, f"{db} is corrupted: {'; '.join(check[:5])}; restore it from a backup "
             "(or salvage what is left with `sqlite3 kontinue.db .recover`)")  # fmt: skip
        return 1
    _say(True, f"{db}: integrity check passed")
    problems += _leases(state)
    problems += _orphans(state, args.fix)
    if args.backup:
        target = Path(args.backup)
        if target.exists():
            raise UsageError(f"{target} exists already; give a new file for the backup")
        secrets_dir = db.parent / "secrets"
        secrets_copy = target.with_name(target.name + ".secrets")
        if secrets_dir.is_dir() and secrets_copy.exists():
            raise UsageError(f"{secrets_copy} exists already; give a new file for the backup")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.execute("VACUUM INTO ?", (str(target),))
        target.chmod(0o600)
        restore = f"restore: stop kontinue, copy it to {db}"
        if secrets_dir.is_dir():  # secret params live beside the database, not in it
            shutil.copytree(secrets_dir, secrets_copy)  # keeps the 0700 / 0600 modes
            secrets_copy.chmod(0o700)
            restore += f" and {secrets_copy} to {secrets_dir}"
        _say(True, f"backup written to {target} ({restore})")
    return 1 if problems else 0


def _integrity(db: Path) -> list[str]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def _leases(state: Path) -> int:
    from kontinue.api import Execution
    from kontinue.store import open_store

    now = datetime.now(UTC)
    stale = [
        e
        for e in open_store(state).list(Execution)
        if e.status.phase == "Executing" and e.status.lease and e.status.lease.expire_time < now
    ]
    for ex in stale:
        lease = ex.status.lease
        assert lease is not None
        _say(False, f"Execution {ex.metadata.name}: the lease of worker {lease.holder} ran out at "
             f"{lease.expire_time:%Y-%m-%d %H:%M:%S} UTC (a crashed worker); any `kontinue "
             f"worker` or `kontinue resume {ex.metadata.name}` takes it over")  # fmt: skip
    if not stale:
        _say(True, "no Execution waits on a dead worker's lease")
    return len(stale)


def _orphans(state: Path, fix: bool) -> int:
    from kontinue.api import Execution
    from kontinue.runners import EXECUTION_LABEL, JobRecord, LocalRunner
    from kontinue.store import NotFoundError, open_store

    store = open_store(state)
    runner = LocalRunner(state)
    found = 0
    for record_path in sorted((state / "jobs").glob("*/*/record.json")):
        try:
            record = JobRecord.from_json(record_path.read_text())
        except (OSError, ValueError):
            continue
        if record.finished:
            continue
        record = runner.poll(record.name, record.namespace) or record  # notices dead ones
        if record.finished:
            continue
        owner = record.labels.get(EXECUTION_LABEL, "")
        try:
            alive = not store.get(Execution, record.namespace, owner).terminal
        except NotFoundError:
            alive = False
        if alive:
            continue
        if fix:
            runner.cancel(record.name, record.namespace)
            _say(True, f"stopped job {record.name}: its Execution {owner} is gone or finished")
        else:
            found += 1
            _say(False, f"job {record.name} still runs but its Execution {owner} is gone or "
                 "finished; `kontinue doctor --fix` stops it")  # fmt: skip
    if not found:
        _say(True, "no orphaned jobs")
    return found
