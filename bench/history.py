#!/usr/bin/env python
"""History: does the engine's cost follow live work, or everything the store ever held?

Two stores: one empty, one holding `--finished` (default 100,000) finished Executions. On
each, a fresh process opens the store, starts an in-process `Engine` and measures:

* a fan-out of `--n` (default 100) children of one durable step each (as `bench/fanout.py`),
  one warm-up and `--repeat` measured runs (median);
* idle CPU: the Engine's process CPU time over `--idle` seconds (default 10) of waiting with
  nothing to do, as a share of one core;
* RSS of the process after all that, and how many objects the engine's cache holds.

The finished Executions are written by the store's own `create` inside `SQLiteStore.batch()`
(one transaction: the documented fast path for bulk loads), each `Completed`, with a result
and the labels a child of a fan-out carries. Every measuring process is new, so neither the
load nor the other store's run is in its memory.

The last lines compare the two stores (filled over empty: 1.00 means history costs nothing):
`fan-out history/empty`, `idle CPU history/empty` and `RSS history/empty`. No peer runs
this, so there is no `ratio:` line.

Usage: `python bench/history.py [--finished 100000] [--n 100] [--repeat 5] [--idle 10]
[--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common as c

import kontinue
from kontinue.api import Execution, ExecutionSpec, ExecutionStatus, ObjectMeta

PARENT, CHILD = "bench-history-parent", "bench-history-child"
NAMESPACE = "default"


@kontinue.function(CHILD, description="benchmark: one durable store step")
def history_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    value = kontinue.store(ktx, lambda: int(args["i"]) * 2)
    return {"v": value}


@kontinue.function(PARENT, description="benchmark: n children in parallel")
def history_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    specs = [
        kontinue.ChildExecutionOptions(function=CHILD, arguments={"i": i})
        for i in range(int(args["n"]))
    ]
    results = kontinue.execute_parallel(ktx, specs)
    return {"sum": sum(r["v"] for r in results)}


# -- filling a store ---------------------------------------------------------------------------


def fill(state: Path, finished: int) -> float:
    """Write `finished` Completed Executions in one transaction; returns the seconds it took."""
    from kontinue.store import open_store

    store = open_store(state, create=True)
    t0 = time.perf_counter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with store.batch():
            for i in range(finished):
                parent = f"old-{i // 100:05d}"
                labels = {
                    "kontinue.cloud/parent": parent,
                    "kontinue.cloud/root": parent,
                    "kontinue.cloud/step": f"spawn-{i % 100}",
                }
                status = ExecutionStatus(
                    phase="Completed",
                    result={"v": i * 2},
                    start_time=start,
                    finish_time=start + timedelta(seconds=1),
                    steps=1,
                )
                store.create(
                    Execution(
                        metadata=ObjectMeta(name=f"{parent}-{i % 100}", labels=labels),
                        spec=ExecutionSpec(function=CHILD, arguments={"i": i}),
                        status=status,
                    )
                )
    finally:
        store.close()
    return time.perf_counter() - t0


# -- measuring (in a fresh process) ------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="utf-8") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(state: Path, n: int, repeat: int, idle: float) -> dict[str, Any]:
    from kontinue.runtime import Engine
    from kontinue.store import open_store

    store = open_store(state)
    engine = Engine(store)
    try:
        times = []
        for round_ in range(repeat + 1):  # the first is a warm-up
            elapsed, final = c.run_kontinue(engine, store, PARENT, {"n": n}, NAMESPACE)
            if (final.status.result or {}).get("sum") != sum(i * 2 for i in range(n)):
                c.fail(f"parent {final.metadata.name} returned {final.status.result!r}", 1)
            if round_:
                times.append(elapsed)
        cpu0, wall0 = time.process_time(), time.monotonic()
        end = wall0 + idle
        engine.run_until(lambda: time.monotonic() >= end)
        cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        return {
            "fanout": times,
            "idle_cpu": cpu,
            "rss_mib": _rss_mib(),
            "cached": engine.worker.informer.size(),
            "threads": len(os.listdir("/proc/self/task")),
        }
    finally:
        engine.close()
        store.close()


def measure_in_new_process(state: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        str(state),
        "--n",
        str(args.n),
        "--repeat",
        str(args.repeat),
        "--idle",
        str(args.idle),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        c.fail(f"measuring {state} failed:\n{proc.stdout}\n{proc.stderr}", 1)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--finished", type=int, default=100_000, help="finished Executions")
    p.add_argument("--n", type=int, default=100, help="children of the fan-out (default 100)")
    p.add_argument("--repeat", type=int, default=5, help="measured fan-outs (default 5)")
    p.add_argument("--idle", type=float, default=10.0, help="seconds of idling measured")
    p.add_argument("--quick", action="store_true", help="tiny run for tests")
    p.add_argument("--tmp-dir", type=Path, default=None, help="where state goes")
    p.add_argument("--keep", action="store_true", help="keep the state files")
    p.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.finished, args.n, args.repeat, args.idle = 1000, 5, 1, 0.5
    if args.finished < 0 or args.n < 1 or args.repeat < 1 or args.idle <= 0:
        p.error("--finished must be at least 0, --n and --repeat at least 1, --idle above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.n, args.repeat, args.idle)), flush=True)
        return 0
    with c.run_dir(args.tmp_dir, args.keep) as state:
        c.say(
            f"history: a {args.n}-child fan-out ({args.repeat} runs after a warm-up) and "
            f"{args.idle:g} s of idling, on an empty store and on one holding "
            f"{args.finished:,} finished Executions; each measured in a fresh process"
        )
        for line in c.machine_notes(state):
            c.say(f"  {line}")
        empty, full = state / "empty", state / "history"
        empty.mkdir()
        full.mkdir()
        c.say()
        seconds = fill(full, args.finished)
        c.say(f"filled: {args.finished:,} finished Executions in {seconds:.1f} s (one batch)")
        got = {
            "empty": measure_in_new_process(empty, args),
            "history": measure_in_new_process(full, args),
        }
        c.say()
        for label, m in got.items():
            fan = c.time_figures(m["fanout"])
            c.say(f"{label:<8} fan-out {c.fmt_time(fan)}")
            c.say(
                f"{'':<8} idle CPU {m['idle_cpu'] * 100:.2f}% of a core; RSS "
                f"{m['rss_mib']:.1f} MiB; engine cache {m['cached']} objects; "
                f"{m['threads']} threads"
            )
        c.say()
        e, h = got["empty"], got["history"]
        fan_ratio = statistics.median(h["fanout"]) / statistics.median(e["fanout"])
        # idle CPU is tiny: a floor of 0.1% of a core keeps the ratio meaningful
        idle_ratio = max(h["idle_cpu"], 0.001) / max(e["idle_cpu"], 0.001)
        c.say(f"kontinue fan-out seconds: {statistics.median(e['fanout']):.3f}")
        c.say(f"fan-out history/empty: {fan_ratio:.2f}")
        c.say(f"idle CPU history/empty: {idle_ratio:.2f}")
        c.say(f"RSS history/empty: {h['rss_mib'] / e['rss_mib']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
