"""Stores: one `Store` protocol with Kubernetes semantics, and the embedded SQLite backend."""

from __future__ import annotations

import os
from pathlib import Path

from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    FencedError,
    GoneError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from kontinue.store._protocol import Store, WatchEvent
from kontinue.store._selectors import Requirement, Selector, parse_selector
from kontinue.store._sqlite import DB_FILE, SQLiteStore

__all__ = [
    "DB_FILE",
    "AlreadyExistsError",
    "ConflictError",
    "FencedError",
    "GoneError",
    "NotFoundError",
    "Requirement",
    "SQLiteStore",
    "Selector",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "WatchEvent",
    "default_state_dir",
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
