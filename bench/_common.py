"""Helpers shared by the benchmarks: temp dirs, statistics, machine notes and DBOS set-up.

The benchmark scripts run as `python bench/steps.py`, so this module is imported as a
sibling (`import _common`), not as part of the `kontinue` package.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent

# `bench/concurrent.py` bears the name of the standard library's `concurrent` package: with
# this directory first on the path (as it is for `python bench/x.py`), the engine's
# `import concurrent.futures` would find that script. The directory goes last instead, where
# the scripts still find this module. Every script imports this module before kontinue.
if sys.path and Path(sys.path[0] or ".").resolve() == BENCH_DIR:
    sys.path.append(sys.path.pop(0))
REPO_DIR = BENCH_DIR.parent
DEFAULT_TMP = BENCH_DIR / ".tmp"  # on the same disk as the repository, never tmpfs

SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


# -- output -----------------------------------------------------------------------------------


def say(text: str = "") -> None:
    """Print and flush (the smoke test reads the output of a subprocess)."""
    print(text, flush=True)


def fail(text: str, code: int = 2) -> None:
    """A one-line error on stderr and exit."""
    print(f"error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(code)


@dataclass(frozen=True)
class Figures:
    """Several measurements of one quantity: median and best."""

    values: tuple[float, ...]
    higher_is_better: bool

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def best(self) -> float:
        return max(self.values) if self.higher_is_better else min(self.values)


def rate_figures(count: int, seconds: Sequence[float]) -> Figures:
    """Per-second rates of `count` operations for each duration."""
    return Figures(tuple(count / s for s in seconds), higher_is_better=True)


def time_figures(seconds: Sequence[float]) -> Figures:
    """Durations (lower is better)."""
    return Figures(tuple(seconds), higher_is_better=False)


def fmt_rate(fig: Figures, unit: str) -> str:
    """`5,712 steps/s  (median of 5; best 6,001; all 5,712 6,001 ...)`."""
    runs = " ".join(f"{v:,.0f}" for v in fig.values)
    return (
        f"{fig.median:>9,.0f} {unit}  (median of {len(fig.values)}; best {fig.best:,.0f}; "
        f"runs {runs})"
    )


def fmt_time(fig: Figures) -> str:
    """`0.214 s  (median of 5; best 0.190 s; runs ...)`."""
    runs = " ".join(f"{v:.3f}" for v in fig.values)
    return (
        f"{fig.median:>8.3f} s  (median of {len(fig.values)}; best {fig.best:.3f} s; runs {runs})"
    )


# -- temp dirs --------------------------------------------------------------------------------


@contextmanager
def run_dir(root: Path | None, keep: bool) -> Iterator[Path]:
    """A fresh directory for this run under `root` (default `bench/.tmp`), removed afterwards."""
    base = Path(root) if root is not None else DEFAULT_TMP
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    try:
        yield path
    finally:
        if keep:
            say(f"kept state in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# -- machine notes ----------------------------------------------------------------------------


def _mount_of(path: Path) -> str:
    """`device on mountpoint type fstype` for the filesystem holding `path` (Linux)."""
    try:
        target = os.path.realpath(path)
        best: tuple[str, str, str] | None = None
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                dev, mnt, fstype, *_ = line.split()
                inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
                if inside and (best is None or len(mnt) > len(best[1])):
                    best = (dev, mnt, fstype)
        if best:
            return f"{best[0]} on {best[1]} type {best[2]}"
    except OSError:
        pass
    return "unknown filesystem"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_notes(state: Path) -> list[str]:
    """What the figures depend on: CPU, Python, SQLite, and the disk the state lives on."""
    return [
        f"machine: {_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}",
        f"state dir: {state} ({_mount_of(state)})",
        f"load when started: {_load()} (other work on the machine or its disk skews figures)",
    ]


def _load() -> str:
    """Load average, and I/O pressure where the kernel reports it."""
    try:
        one, five, _ = os.getloadavg()
        text = f"load average {one:.2f} {five:.2f}"
    except OSError:
        text = "load average unknown"
    try:
        with open("/proc/pressure/io", encoding="utf-8") as psi:
            some = psi.readline().split()[1]  # "avg10=1.23"
        text += f", I/O pressure {some.replace('avg10=', '')}% (10 s)"
    except (OSError, IndexError):
        pass
    return text


# -- SQLite settings --------------------------------------------------------------------------


def sqlite_settings(conn: Any) -> str:
    """`journal_mode=wal synchronous=FULL` as seen by one open DB-API connection."""
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    return f"journal_mode={journal} synchronous={SYNC_NAMES.get(sync, sync)}"


def kontinue_settings(store: Any) -> str:
    """The SQLite settings of kontinue's own connection (a private attribute, read only)."""
    conn = getattr(store, "_db", None)
    if conn is None:
        return "unknown (SQLiteStore has no _db connection any more)"
    return sqlite_settings(conn)


# -- DBOS -------------------------------------------------------------------------------------

#: DBOS variants: what they change from DBOS's SQLite defaults.
DBOS_WAL = "wal"
DBOS_DEFAULTS = "defaults"


def parse_variants(parser: Any, text: str) -> list[str]:
    """`wal,defaults` -> ['wal', 'defaults']; `wal` always comes first (the ratio uses it)."""
    variants = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not variants or set(variants) - {DBOS_WAL, DBOS_DEFAULTS}:
        parser.error(f"--dbos-variants takes 'wal' and/or 'defaults', not {text!r}")
    return [DBOS_WAL] + [v for v in variants if v != DBOS_WAL]


def dbos_importable() -> bool:
    try:
        import dbos  # noqa: F401
    except ImportError:
        return False
    return True


def require_dbos() -> None:
    if not dbos_importable():
        fail(
            'dbos is not installed: pip install -e ".[bench]" (or pass --no-dbos to measure '
            "kontinue alone)"
        )


_PRAGMA_TARGET: dict[str, str | None] = {"file": None}
_LISTENING = False


def _apply_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """On every new SQLAlchemy connection to the DBOS file: WAL and synchronous=FULL."""
    target = _PRAGMA_TARGET["file"]
    if target is None or not isinstance(dbapi_conn, sqlite3.Connection):
        return
    files = [row[2] for row in dbapi_conn.execute("PRAGMA database_list").fetchall()]
    if any(f and os.path.realpath(f) == target for f in files):
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=FULL")


def dbos_sqlite_mode(db_file: Path, variant: str) -> None:
    """Make DBOS's SQLite connections to `db_file` match kontinue's settings, or not.

    DBOS 3.4 opens its SQLite system database with SQLite's defaults (rollback journal,
    `journal_mode=delete`, and `synchronous=FULL`): durable, but every commit syncs the
    journal and the database. For `wal` a pool-level listener sets `journal_mode=WAL` and
    `synchronous=FULL` on each new connection to that file, exactly what kontinue's store
    uses, so both commit once to the WAL with one fsync. DBOS's own code is left alone.
    """
    global _LISTENING
    import sqlalchemy as sa

    if not _LISTENING:
        sa.event.listen(sa.pool.Pool, "connect", _apply_pragmas)
        _LISTENING = True
    _PRAGMA_TARGET["file"] = os.path.realpath(db_file) if variant == DBOS_WAL else None


def dbos_settings() -> str:
    """The SQLite settings on a connection of the launched DBOS's system database engine."""
    try:
        from dbos._dbos import _get_dbos_instance  # private; only read here

        engine = _get_dbos_instance()._sys_db.engine
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            return sqlite_settings(raw)
    except Exception as exc:  # the private path moved: say so rather than guess
        return f"unknown ({type(exc).__name__}: {exc})"


def launch_dbos(name: str, db_file: Path, variant: str, pool_size: int | None = None) -> Any:
    """Configure and launch DBOS on `db_file`; returns the DBOS class.

    `pool_size`: connections of DBOS's system database pool (DBOS's default is 20, too few
    for 32 workflows stepping at once beside its own background threads).
    """
    from dbos import DBOS

    db_file.parent.mkdir(parents=True, exist_ok=True)
    dbos_sqlite_mode(db_file, variant)
    config: dict[str, Any] = {
        "name": name,
        "system_database_url": f"sqlite:///{db_file}",
        "log_level": "WARNING",
    }
    if pool_size is not None:
        config["sys_db_pool_size"] = pool_size
    DBOS(config=config)  # type: ignore[arg-type]
    DBOS.launch()
    return DBOS


def destroy_dbos() -> None:
    from dbos import DBOS

    DBOS.destroy()
    _PRAGMA_TARGET["file"] = None


def with_runs(makers: dict[str, Callable[[], Any]], body: Callable[[dict[str, Any]], Any]) -> Any:
    """Open every run, call `body` with them, and close them all (in reverse) whatever happens."""
    opened: dict[str, Any] = {}
    try:
        for key, make in makers.items():
            opened[key] = make()
        return body(opened)
    finally:
        for run in reversed(list(opened.values())):
            run.close()


def run_kontinue(
    engine: Any, store: Any, function: str, args: Any, namespace: str
) -> tuple[float, Any]:
    """Start one Execution, run the engine until it ends; its seconds and final state.

    Fails the benchmark (exit 1) unless it Completed.
    """
    from kontinue.api import Execution
    from kontinue.runtime import start_execution

    t0 = time.perf_counter()
    name = start_execution(store, function, args, namespace=namespace).metadata.name
    finished = engine.run_until(lambda: store.get(Execution, namespace, name).terminal, timeout=600)
    elapsed = time.perf_counter() - t0
    final = store.get(Execution, namespace, name)
    if not finished or final.status.phase != "Completed":
        err = final.status.error.message if final.status.error else "no error"
        fail(f"kontinue Execution {name} ended {final.status.phase}: {err}", 1)
    return elapsed, final
