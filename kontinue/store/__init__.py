"""Stores: one `Store` protocol with Kubernetes semantics; the embedded SQLite backend and
the Kubernetes backend (imported on first use: `kubernetes` is slow to import)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    FencedError,
    GoneError,
    NotFoundError,
    StorageFaultError,
    StoreError,
    StoreUnavailableError,
    ValueTooLargeError,
)
from kontinue.store._faults import fault
from kontinue.store._limits import (
    check_inputs,
    max_argument_bytes,
    max_input_bytes,
    max_result_bytes,
)
from kontinue.store._protocol import Store, WatchEvent
from kontinue.store._selectors import Requirement, Selector, parse_selector
from kontinue.store._sqlite import DB_FILE, SECRET_ANNOTATION, SQLiteStore

if TYPE_CHECKING:
    from kontinue.store._kubeconnect import KubeConnection
    from kontinue.store._kubernetes import KubernetesStore

__all__ = [
    "DB_FILE",
    "SECRET_ANNOTATION",
    "AlreadyExistsError",
    "ConflictError",
    "FencedError",
    "GoneError",
    "KubeConnection",
    "KubernetesStore",
    "NotFoundError",
    "Requirement",
    "SQLiteStore",
    "Selector",
    "StorageFaultError",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "ValueTooLargeError",
    "WatchEvent",
    "check_inputs",
    "connect_kubernetes",
    "default_state_dir",
    "initialise_empty",
    "max_argument_bytes",
    "max_input_bytes",
    "max_result_bytes",
    "open_kubernetes_store",
    "open_store",
    "parse_selector",
    "privacy_warnings",
]


def default_state_dir() -> Path:
    """`$KONTINUE_HOME` if set, else `./.kontinue` in the working directory."""
    return Path(os.environ.get("KONTINUE_HOME") or ".kontinue")


def open_store(state_dir: str | Path | None = None, *, create: bool = False) -> SQLiteStore:
    """Open the embedded store in a state directory.

    Args:
        state_dir: the directory holding `kontinue.db` (default: `default_state_dir()`).
        create: create the directory if it is missing, instead of failing.

    Raises:
        StoreUnavailableError: the directory is missing (and `create` is false) or unusable.
    """
    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    if not directory.is_dir():
        if not create:
            raise StoreUnavailableError(
                f"no kontinue state directory at {directory}; run a `kontinue execute` or "
                "`kontinue submit` here first, or point --state-dir / KONTINUE_HOME at one"
            )
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)  # whatever the umask: it holds every parameter and log
    db = directory / DB_FILE
    if not db.exists():
        _create_private(db)
    elif db.is_file() and db.stat().st_size == 0:
        raise StorageFaultError(
            f"{db} is empty (0 bytes): it holds no Executions. If it held some, restore it "
            "from a backup; to start a new, empty store here, run `kontinue doctor --init`",
            "empty",
        )
    return SQLiteStore(db)


def _create_private(path: Path) -> None:
    """Create the database file, readable by its owner only (SQLite's -wal and -shm files
    take the same permissions), already holding a SQLite header: another process never sees
    it empty, which would mean a lost store (see `open_store`)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(staging, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    try:
        db = sqlite3.connect(staging)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # writes the header: the file is a database
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):
            os.link(staging, path)  # never replaces a file another process created meanwhile
    except sqlite3.Error as exc:
        raise fault(exc, path) or StoreUnavailableError(f"cannot create {path}: {exc}") from exc
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()


def initialise_empty(state_dir: str | Path) -> bool:
    """Replace a zero-byte kontinue.db by a new, empty store; False if it was not empty."""
    db = Path(state_dir) / DB_FILE
    if not db.is_file() or db.stat().st_size != 0:
        return False
    db.unlink()
    _create_private(db)
    return True


def privacy_warnings(state_dir: str | Path) -> list[str]:
    """What others on this machine can read in the state directory (one line, or none)."""
    directory = Path(state_dir)
    readable = []
    for path in (directory / DB_FILE, directory / f"{DB_FILE}-wal", directory / f"{DB_FILE}-shm"):
        try:
            if path.stat().st_mode & 0o044:
                readable.append(path)
        except OSError:
            continue
    if not readable:
        return []
    files = " ".join(str(p) for p in readable)
    return [
        f"warning: {files} readable by other users: it holds every parameter, result and "
        f"environment value; run `chmod 600 {files} && chmod 700 {directory}`"
    ]


def __getattr__(name: str) -> Any:
    # PEP 562: the Kubernetes backend imports `kubernetes` only when it is used.
    if name == "KubernetesStore":
        from kontinue.store._kubernetes import KubernetesStore

        return KubernetesStore
    if name == "KubeConnection":
        from kontinue.store._kubeconnect import KubeConnection

        return KubeConnection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def connect_kubernetes(kubeconfig: str | None = None, context: str | None = None) -> KubeConnection:
    """Find the API server as kubectl does (kubeconfig, its context, or in-cluster)."""
    from kontinue.store._kubeconnect import connect

    return connect(kubeconfig, context)


def open_kubernetes_store(
    kubeconfig: str | None = None, context: str | None = None, namespace: str | None = None
) -> KubernetesStore:
    """A `KubernetesStore` on the cluster kubectl would use.

    Args:
        kubeconfig: a kubeconfig file (default: `$KUBECONFIG`, `~/.kube/config`, in-cluster).
        context: a context of the kubeconfig (default: its current context).
        namespace: the namespace to work in (default: the context's, else `default`).

    Raises:
        StoreUnavailableError: no configuration found, or it cannot be used.
    """
    from kontinue.store._kubernetes import KubernetesStore

    conn = connect_kubernetes(kubeconfig, context)
    store = KubernetesStore(
        conn.api_client, namespace=namespace or conn.namespace, owns_client=True
    )
    store.source = conn.source
    return store
