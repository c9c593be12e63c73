"""The store backends the contract suite runs on, and how a test (or a child process) opens one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass

import pytest

from kontinue.store import SQLiteStore, Store

__all__ = ["BACKENDS", "StoreTarget"]

# Every backend the contract suite runs on; "kubernetes" joins this list when its store exists
# (its StoreTarget.location will name a scratch namespace on a real API server).
BACKENDS = ["sqlite"]


@dataclass(frozen=True)
class StoreTarget:
    """Where one test's store lives. Plain and picklable, so child processes open the same one."""

    backend: str
    location: str

    def open(self) -> Store:
        """A new client of this store (a new connection, in this process)."""
        if self.backend == "sqlite":
            return SQLiteStore(self.location)
        raise ValueError(f"no store backend called {self.backend!r}")

    def forget_changes_through(self, version: str) -> None:
        """Make the backend drop its record of every change up to `version`, as its own
        compaction eventually does, so that a test can watch from a version no longer kept."""
        if self.backend != "sqlite":
            pytest.skip(f"the {self.backend} backend cannot be told to compact its changes")
        # A second, plain connection: the store's own code is not touched.
        with closing(sqlite3.connect(self.location, timeout=30)) as db, db:
            db.execute("DELETE FROM events WHERE rv <= ?", (int(version),))
