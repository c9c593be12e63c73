"""A store that runs many short Executions with a TTL stays bounded (virtual time)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import ExecutionTTL
from kontinue.runtime import Registry, start_execution
from kontinue.store import DB_FILE
from kontinue.testing import Environment

REG = Registry()
TOTAL = int(os.environ.get("KONTINUE_BOUNDED_TOTAL", "100000"))
BATCH = 500


@kontinue.function(
    "bounded-noop", registry=REG, ttl=ExecutionTTL(delete_after=timedelta(minutes=1))
)
def noop(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    return int(args["i"])


def _objects(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM objects").fetchone()[0])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about two minutes on an idle machine; much more under load
def test_a_hundred_thousand_short_executions_leave_the_store_near_empty() -> None:
    # the point is the object count, not durability: on tmpfs where the machine has it
    base = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as tmp, Environment(tmp, registry=REG) as env:
        db = Path(tmp) / DB_FILE
        most = 0
        informer = env.engine.worker.informer
        for start in range(0, TOTAL, BATCH):
            for i in range(start, min(start + BATCH, TOTAL)):
                start_execution(env.store, "bounded-noop", {"i": i}, name=f"run-{i}")
            informer.sync()  # see the new ones before asking whether any is unfinished
            assert env.engine.run_until(lambda: not informer.unfinished(), timeout=600)
            most = max(most, _objects(db))
            env.advance(timedelta(minutes=2))  # past every finished one's deleteAfter
        left = _objects(db)
        # only the one published Function (if any) and nothing of the 100,000 runs is left
        assert left <= 5, left
        assert most <= BATCH + 5, most
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM journal").fetchone()[0] == 0
