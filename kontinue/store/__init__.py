"""Stores: one `Store` protocol with Kubernetes semantics; the embedded SQLite backend and
the Kubernetes backend (imported on first use: `kubernetes` is slow to import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    FencedError,
    GoneError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    ValueTooLargeError,
)
from kontinue.store._protocol import Store, WatchEvent
from kontinue.store._selectors import Requirement, Selector, parse_selector
from kontinue.store._sqlite import DB_FILE, SQLiteStore

if TYPE_CHECKING:
    from kontinue.store._kubeconnect import KubeConnection
    from kontinue.store._kubernetes import KubernetesStore

__all__ = [
    "DB_FILE",
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
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "ValueTooLargeError",
    "WatchEvent",
    "connect_kubernetes",
    "default_state_dir",
    "open_kubernetes_store",
    "open_store",
    "parse_selector",
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
        directory.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(directory / DB_FILE)


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
    return KubernetesStore(conn.api_client, namespace=namespace or conn.namespace, owns_client=True)
