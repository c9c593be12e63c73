#!/usr/bin/env python
"""Replay and parking: what a long journal and many waiting Executions cost a worker.

* **Replay**: an Execution whose journal already holds N `store` steps (1,000, 10,000 and
  100,000 by default) is run by an in-process `Engine`; its function makes the same N
  `kontinue.store` calls, which all replay from the journal, and returns. Figures: reading
  the journal (`read_entries`: typed entries, as the worker reads it), the function's loop
  of N replayed steps, and the whole run from the Execution's start to its end (claim,
  journal read, replay, completion).
  The journal is written in one batch through the store's own `append_journal`
  (`SQLiteStore.batch()`), as a worker would have recorded it, one seq at a time.
* **Parking**: `--parked` (10,000) Executions of a function that sleeps one hour are run
  by one Engine until every one of them is Suspended; the worker's RSS before and after
  (per parked Execution) and its thread count show what a parked Execution holds. It runs
  in a fresh process, so that the replays' high-water mark (Python does not hand freed
  memory back) neither adds to it nor hides it; `--trace-memory` counts the Python
  objects still held.

No peer runs this, so there is no `ratio:` line; the last lines are
`replay of 10000 steps: X ms` (the goal: under 100 ms) and `parked: X KiB each, N threads`.

Usage: `python bench/replay.py [--steps 1000,10000,100000] [--repeat 3] [--parked 10000]
[--quick]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common as c

import kontinue
from kontinue.api import Execution, ExecutionSpec, ExecutionStatus, Lease, ObjectMeta
from kontinue.runtime import Engine
from kontinue.store import SQLiteStore, open_store

REPLAYER, SLEEPER = "bench-replay", "bench-park"
NAMESPACE = "default"
LOADER = "bench-loader"
_LOOPS: dict[str, float] = {}


@kontinue.function(REPLAYER, description="benchmark: n store steps (replayed)")
def replayer(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    n = int(args["n"])
    t0 = time.perf_counter()
    total = 0
    for i in range(n):
        total += kontinue.store(ktx, lambda i=i: i)
    _LOOPS[ktx.name] = time.perf_counter() - t0
    return total


@kontinue.function(SLEEPER, description="benchmark: park for an hour")
def sleeper(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    kontinue.sleep(ktx, timedelta(hours=1))
    return 0


# -- replay -------------------------------------------------------------------------------------


def load_journal(store: SQLiteStore, name: str, n: int) -> None:
    """An Execution of `replayer` whose journal holds n recorded store steps, Pending."""
    now = datetime.now(UTC)
    with store.batch():
        ex = store.create(
            Execution(
                metadata=ObjectMeta(name=name),
                spec=ExecutionSpec(function=REPLAYER, arguments={"n": n}),
                status=ExecutionStatus(
                    phase="Executing",
                    lease=Lease(
                        holder=LOADER,
                        acquire_time=now,
                        renew_time=now,
                        expire_time=now + timedelta(hours=1),
                    ),
                ),
            )
        )
        stamp = now.isoformat()
        for seq in range(n):
            entry = {
                "seq": seq,
                "name": f"store-{seq + 1}",
                "kind": "store",
                "time": stamp,
                "attempt": 0,
                "result": seq,
            }
            store.append_journal(NAMESPACE, name, seq, entry, LOADER)
        ex.status.phase = "Pending"
        ex.status.lease = None
        store.update_status(ex)


def replay_once(store: SQLiteStore, engine: Engine, n: int, tag: str) -> tuple[float, ...]:
    name = f"replay-{n}-{tag}"
    load_journal(store, name, n)
    t0 = time.perf_counter()
    read = store.read_entries(NAMESPACE, name)  # typed, as the worker reads it
    read_s = time.perf_counter() - t0
    assert len(read) == n
    t0 = time.perf_counter()
    done = engine.run_until(lambda: store.get(Execution, NAMESPACE, name).terminal, timeout=600)
    whole = time.perf_counter() - t0
    final = store.get(Execution, NAMESPACE, name)
    if not done or final.status.phase != "Completed" or final.status.result != n * (n - 1) // 2:
        c.fail(f"{name} ended {final.status.phase}: {final.status.error}", 1)
    if len(store.read_journal(NAMESPACE, name)) != n:
        c.fail(f"{name} recorded new steps: its replay ran them again", 1)
    return read_s, _LOOPS.pop(name), whole


# -- parking ------------------------------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def park(state: Path, count: int, trace: bool = False) -> dict[str, Any]:
    store = open_store(state / "park", create=True)
    try:
        with store.batch():
            for i in range(count):
                store.create(
                    Execution(
                        metadata=ObjectMeta(name=f"parked-{i:06d}"),
                        spec=ExecutionSpec(function=SLEEPER, arguments={}),
                    )
                )
        gc.collect()
        before, threads_before = _rss_kib(), threading.active_count()
        if trace:
            tracemalloc.start()
        engine = Engine(store)
        t0 = time.perf_counter()
        try:

            def all_parked() -> bool:
                informer = engine.worker.informer  # counted without reading any back
                parked = informer.count_unfinished() - len(informer.runnable())
                return parked == count and engine.worker.busy == 0

            if not engine.run_until(all_parked, timeout=3600):
                c.fail("the Executions did not all park within an hour", 1)
            seconds = time.perf_counter() - t0
            engine.step()  # one controller pass: the open sleeps are now cached too
            gc.collect()
            after = _rss_kib()
            traced = tracemalloc.get_traced_memory() if trace else None
            tracemalloc.stop()
            return {
                "traced_kib": None if traced is None else traced[0] / 1024 / count,
                "traced_peak_kib": None if traced is None else traced[1] / 1024 / count,
                "seconds": seconds,
                "per_kib": (after - before) / count,
                "threads": threading.active_count(),
                "threads_before": threads_before,
                "os_threads": len(os.listdir("/proc/self/task")),
                "cached": engine.worker.informer.size(),
                "before_mib": before / 1024,
                "after_mib": after / 1024,
            }
        finally:
            engine.close()
    finally:
        store.close()


def park_in_new_process(state: Path, count: int, trace: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--park-in", str(state), "--parked", str(count)]
    if trace:
        cmd.append("--trace-memory")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    if proc.returncode != 0:
        c.fail(f"parking failed:\n{proc.stdout}\n{proc.stderr}", 1)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--steps", default="1000,10000,100000", help="journal lengths")
    p.add_argument("--repeat", type=int, default=3, help="replays per length (default 3)")
    p.add_argument("--parked", type=int, default=10_000, help="parked Executions (10,000)")
    p.add_argument(
        "--trace-memory",
        action="store_true",
        help="also count the Python memory the parked Executions keep (tracemalloc; slower)",
    )
    p.add_argument("--quick", action="store_true", help="tiny run for tests")
    p.add_argument("--tmp-dir", type=Path, default=None, help="where state goes")
    p.add_argument("--keep", action="store_true", help="keep the state files")
    p.add_argument("--park-in", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeat, args.parked = "100,1000", 1, 50
    try:
        args.lengths = sorted({int(x) for x in args.steps.split(",") if x.strip()})
    except ValueError:
        p.error(f"--steps takes whole numbers separated by commas, not {args.steps!r}")
    if not args.lengths or min(args.lengths) < 1 or args.repeat < 1 or args.parked < 1:
        p.error("--steps, --repeat and --parked must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.park_in is not None:
        print(json.dumps(park(args.park_in, args.parked, args.trace_memory)), flush=True)
        return 0
    with c.run_dir(args.tmp_dir, args.keep) as state:
        c.say(
            f"replay: journals of {', '.join(f'{n:,}' for n in args.lengths)} steps, "
            f"{args.repeat} replay(s) each (medians); parking: {args.parked:,} Executions"
        )
        for line in c.machine_notes(state):
            c.say(f"  {line}")
        c.say()
        store = open_store(state / "replay", create=True)
        engine = Engine(store)
        medians: dict[int, float] = {}
        try:
            for n in args.lengths:
                runs = [replay_once(store, engine, n, str(r)) for r in range(args.repeat)]
                read, loop, whole = (statistics.median(col) for col in zip(*runs, strict=True))
                medians[n] = read + loop
                c.say(
                    f"{n:>7,} steps: read_entries {read * 1e3:8.1f} ms  replay loop "
                    f"{loop * 1e3:8.1f} ms  together {(read + loop) * 1e3:8.1f} ms  "
                    f"start to done {whole * 1e3:8.1f} ms  "
                    f"({(read + loop) / n * 1e6:.2f} µs a step)"
                )
        finally:
            engine.close()
            store.close()
        got = park_in_new_process(state, args.parked, args.trace_memory)
        c.say()
        c.say(
            f"{args.parked:,} parked on a one-hour sleep in {got['seconds']:.1f} s: RSS "
            f"{got['before_mib']:.1f} -> {got['after_mib']:.1f} MiB, "
            f"{got['per_kib']:.2f} KiB each; Python threads {got['threads_before']} before, "
            f"{got['threads']} after ({got['os_threads']} OS threads); engine cache "
            f"{got['cached']} objects"
        )
        if got["traced_kib"] is not None:
            c.say(
                f"  Python objects kept (tracemalloc): {got['traced_kib']:.2f} KiB each; peak "
                f"while all {args.parked:,} were claimed at once {got['traced_peak_kib']:.2f} KiB"
            )
        c.say()
        for n, seconds in medians.items():
            c.say(f"replay of {n} steps: {seconds * 1e3:.1f} ms")
        c.say(f"parked: {got['per_kib']:.2f} KiB each, {got['threads']} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
