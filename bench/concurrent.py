#!/usr/bin/env python
"""Concurrent Executions: 1, 8 and 32 at once, each of `--n` (1,000) durable store steps.

* **kontinue**: one store and one in-process `Engine` with as many worker threads as
  Executions; all are started at once; aggregate durable steps/s from the first start to
  the last one finishing, and the latency of each `kontinue.store` call (p50, p99).
* **DBOS** (`wal`: kontinue's SQLite settings, WAL + `synchronous=FULL`): as many
  workflows of `--n` `@DBOS.step()` calls started at once with `DBOS.start_workflow`;
  the same figures.
* **raw**: one thread committing one journal-sized row per transaction (`BEGIN IMMEDIATE`,
  INSERT, `COMMIT`) on the same disk: the most durable one-at-a-time commits per second.
  Group commit is how kontinue can go past it: the rows of Executions that step at the same
  moment share one transaction and one fsync, and each call still returns only once its
  own row is on disk.

Rounds take turns (kontinue, DBOS, raw at each concurrency), after one warm-up each; figures
are medians. The last lines are `kontinue/raw: X.XX` (kontinue's aggregate steps/s at the
highest concurrency over the raw commit rate) and `ratio: X.XX` (kontinue over DBOS, there).

Usage: `python bench/concurrent.py [--n 1000] [--concurrency 1,8,32] [--repeat 3] [--quick]
[--no-dbos]`.
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c  # first: it moves this directory to the end of sys.path

import kontinue
from kontinue.api import Execution
from kontinue.runtime import Engine, start_execution
from kontinue.store import open_store

FUNCTION = "bench-concurrent-steps"
NAMESPACE = "default"

# step latencies by Execution name / workflow id (measurement only, not durable state)
_LATENCIES: dict[str, list[float]] = {}
_LOCK = threading.Lock()


def _value(i: int) -> int:
    return i


@kontinue.function(FUNCTION, description="benchmark: n durable store steps, timing each")
def bench_steps(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    n = int(args["n"])
    times = []
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        kontinue.store(ktx, functools.partial(_value, i))
        times.append(clock() - t0)
    with _LOCK:
        _LATENCIES[ktx.name] = times
    return {"n": n}


Sample = tuple[float, list[float]]  # (aggregate steps/s, every step's latency)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- kontinue ---------------------------------------------------------------------------------


class KontinueRun:
    """One store and one Engine per concurrency (its worker threads = the concurrency)."""

    def __init__(self, state: Path, concurrency: int) -> None:
        self.store = open_store(state / f"kontinue-{concurrency}", create=True)
        self.engine = Engine(self.store, concurrency=concurrency)
        self.concurrency = concurrency
        self.settings = f"{c.kontinue_settings(self.store)}; Engine with {concurrency} threads"

    def one(self, n: int) -> Sample:
        t0 = time.perf_counter()
        names = [
            start_execution(self.store, FUNCTION, {"n": n}, namespace=NAMESPACE).metadata.name
            for _ in range(self.concurrency)
        ]
        pending = set(names)

        def done() -> bool:
            for name in list(pending):
                if self.store.get(Execution, NAMESPACE, name).terminal:
                    pending.discard(name)
            return not pending

        if not self.engine.run_until(done, timeout=1200):
            c.fail("kontinue Executions did not finish within 20 minutes", 1)
        elapsed = time.perf_counter() - t0
        latencies: list[float] = []
        for name in names:
            final = self.store.get(Execution, NAMESPACE, name)
            if final.status.phase != "Completed":
                c.fail(f"kontinue Execution {name} ended {final.status.phase}", 1)
            with _LOCK:
                latencies += _LATENCIES.pop(name)
        return self.concurrency * n / elapsed, latencies

    def close(self) -> None:
        self.engine.close()
        self.store.close()


# -- DBOS -------------------------------------------------------------------------------------

_DBOS_WF: Any = None


def dbos_workflow() -> Any:
    global _DBOS_WF
    if _DBOS_WF is None:
        from dbos import DBOS

        @DBOS.step()
        def bench_concurrent_step(i: int) -> int:
            return i

        @DBOS.workflow()
        def bench_concurrent_wf(n: int) -> int:
            times = []
            clock = time.perf_counter
            for i in range(n):
                t0 = clock()
                bench_concurrent_step(i)
                times.append(clock() - t0)
            with _LOCK:
                _LATENCIES[str(DBOS.workflow_id)] = times
            return n

        _DBOS_WF = bench_concurrent_wf
    return _DBOS_WF


class DbosRun:
    """DBOS launched once on its own SQLite file (`wal` variant); workflows started at once."""

    def __init__(self, state: Path, most: int) -> None:
        self.wf = dbos_workflow()
        pool = most + 20  # a connection per running workflow, and DBOS's own 20
        db_file = state / "dbos" / "dbos.sqlite"
        c.launch_dbos("kontinue-bench-concurrent", db_file, c.DBOS_WAL, pool_size=pool)
        self.settings = f"{c.dbos_settings()}; pool of {pool} connections"

    def one(self, n: int, concurrency: int) -> Sample:
        from dbos import DBOS, SetWorkflowID

        t0 = time.perf_counter()
        handles = []
        for _ in range(concurrency):
            with SetWorkflowID(f"bench-concurrent-{uuid.uuid4().hex}"):
                handles.append(DBOS.start_workflow(self.wf, n))
        results = [h.get_result() for h in handles]
        elapsed = time.perf_counter() - t0
        if results != [n] * concurrency:
            c.fail(f"DBOS workflows returned {results!r}", 1)
        latencies: list[float] = []
        with _LOCK:
            for h in handles:
                latencies += _LATENCIES.pop(h.get_workflow_id())
        return concurrency * n / elapsed, latencies

    def close(self) -> None:
        c.destroy_dbos()


# -- raw --------------------------------------------------------------------------------------


class RawRun:
    """One thread: BEGIN IMMEDIATE, INSERT one journal-sized row, COMMIT; n times."""

    def __init__(self, state: Path) -> None:
        (state / "raw").mkdir()
        self.db = sqlite3.connect(state / "raw" / "raw.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE journal (uid TEXT, seq INTEGER, body TEXT, PRIMARY KEY (uid, seq))"
        )
        self.settings = c.sqlite_settings(self.db)
        self.seq = 0

    def one(self, n: int) -> Sample:
        db, times = self.db, []
        t_all = time.perf_counter()
        for _ in range(n):
            seq = self.seq
            body = json.dumps({"seq": seq, "name": f"store-{seq}", "kind": "store", "result": seq})
            t0 = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO journal VALUES ('bench', ?, ?)", (seq, body))
            db.execute("COMMIT")
            times.append(time.perf_counter() - t0)
            self.seq += 1
        return n / (time.perf_counter() - t_all), times

    def close(self) -> None:
        self.db.close()


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="steps per Execution (default 1000)")
    p.add_argument(
        "--concurrency", default="1,8,32", help="Executions at once, comma-separated (1,8,32)"
    )
    p.add_argument("--repeat", type=int, default=3, help="measured rounds (default 3)")
    p.add_argument("--quick", action="store_true", help="tiny run for tests: n=20, 1,4")
    p.add_argument("--no-dbos", action="store_true", help="skip DBOS (no ratio line)")
    p.add_argument("--tmp-dir", type=Path, default=None, help="where state goes")
    p.add_argument("--keep", action="store_true", help="keep the state files")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.concurrency, args.repeat = 20, "1,4", 1
    try:
        args.levels = sorted({int(x) for x in args.concurrency.split(",") if x.strip()})
    except ValueError:
        p.error(f"--concurrency takes whole numbers separated by commas, not {args.concurrency!r}")
    if not args.levels or min(args.levels) < 1 or args.n < 1 or args.repeat < 1:
        p.error("--n, --repeat and every --concurrency must be at least 1")
    return args


def _fmt(samples: list[Sample]) -> str:
    rates = [s[0] for s in samples]
    latencies = [x for s in samples for x in s[1]]
    runs = " ".join(f"{r:,.0f}" for r in rates)
    return (
        f"{statistics.median(rates):>8,.0f} steps/s  p50 {_percentile(latencies, 0.5) * 1e3:.3f} "
        f"ms  p99 {_percentile(latencies, 0.99) * 1e3:.3f} ms  (runs {runs})"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_dbos:
        c.require_dbos()
    n, levels, repeat = args.n, args.levels, args.repeat
    with c.run_dir(args.tmp_dir, args.keep) as state:
        c.say(
            f"concurrent: {', '.join(map(str, levels))} Executions at once x {n} durable "
            f"steps; one warm-up, then {repeat} round(s) in turns; figures are medians"
        )
        for line in c.machine_notes(state):
            c.say(f"  {line}")

        makers: dict[str, Callable[[], Any]] = {
            f"kontinue-{k}": functools.partial(KontinueRun, state, k) for k in levels
        }
        makers["raw"] = functools.partial(RawRun, state)
        if not args.no_dbos:
            makers["dbos"] = functools.partial(DbosRun, state, max(levels))
        settings: dict[str, str] = {}

        def measure(runs: dict[str, Any]) -> dict[str, list[Sample]]:
            settings.update({key: run.settings for key, run in runs.items()})
            got: dict[str, list[Sample]] = {}
            for round_ in range(repeat + 1):  # round 0 is the warm-up
                for k in levels:
                    turns: list[tuple[str, Callable[[], Sample]]] = [
                        (f"kontinue-{k}", functools.partial(runs[f"kontinue-{k}"].one, n))
                    ]
                    if "dbos" in runs:
                        turns.append((f"dbos-{k}", functools.partial(runs["dbos"].one, n, k)))
                    for key, run in turns:
                        sample = run()
                        if round_:
                            got.setdefault(key, []).append(sample)
                sample = runs["raw"].one(max(n, 1000))
                if round_:
                    got.setdefault("raw", []).append(sample)
            return got

        got = c.with_runs(makers, measure)
        c.say()
        c.say(f"kontinue embedded  [{settings[f'kontinue-{levels[0]}'].split(';')[0]}]")
        if not args.no_dbos:
            c.say(f"DBOS wal           [{settings['dbos']}; kontinue's settings]")
        c.say(f"raw one-row commits [{settings['raw']}]")
        c.say()
        for k in levels:
            c.say(f"{k:>3} at once  kontinue {_fmt(got[f'kontinue-{k}'])}")
            if not args.no_dbos:
                c.say(f"{'':>12} DBOS wal {_fmt(got[f'dbos-{k}'])}")
        c.say(f"raw commits, one at a time {_fmt(got['raw'])}")
        c.say()
        top = levels[-1]
        k_rate = statistics.median(s[0] for s in got[f"kontinue-{top}"])
        raw_rate = statistics.median(s[0] for s in got["raw"])
        c.say(f"kontinue steps/s at {top}: {k_rate:.0f}")
        c.say(f"raw commits/s: {raw_rate:.0f}")
        if not args.no_dbos:
            d_rate = statistics.median(s[0] for s in got[f"dbos-{top}"])
            c.say(f"DBOS steps/s at {top}: {d_rate:.0f}")
        c.say(f"kontinue/raw: {k_rate / raw_rate:.2f}")
        if not args.no_dbos:
            c.say(f"ratio: {k_rate / d_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
