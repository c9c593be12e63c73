#!/usr/bin/env python
"""Fan-out: one parent runs N children in parallel, each child doing one durable step.

* **kontinue**: a parent function calls `kontinue.execute_parallel` with N
  `ChildExecutionOptions`; the in-process `Engine` runs parent and children on the embedded
  store. Timed from `start_execution` of the parent to the parent being terminal.
* **DBOS**: a parent workflow enqueues N child workflows on a `Queue` without a concurrency
  limit and waits for every handle. Timed from calling the parent to its return. `wal` runs
  DBOS with kontinue's SQLite settings (WAL + `synchronous=FULL`) and polls the queue and
  the results every `--dbos-poll` seconds (default 0.02, kontinue's store poll interval);
  `defaults` is DBOS as shipped (rollback journal, 1 s queue and result polling).

kontinue and DBOS `wal` take turns, one run each per round, so a slow spell of the disk hits
both alike; DBOS `defaults` runs after them. The last line is `ratio: X.XX`: DBOS (`wal`)
time over kontinue time, both medians; above 1 means kontinue is faster.

Usage: `python bench/fanout.py [--n 100] [--repeat 5] [--quick]
[--no-dbos]`.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

import kontinue
from kontinue.api import Execution
from kontinue.runtime import Engine
from kontinue.store import open_store

PARENT, CHILD = "bench-fanout-parent", "bench-fanout-child"
NAMESPACE = "default"
QUEUE = "bench-fanout"
DBOS_DEFAULT_POLL = 1.0  # DBOS 3.4: Queue polling_interval_sec and get_result's default


@kontinue.function(CHILD, description="benchmark: one durable store step")
def bench_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    value = kontinue.store(ktx, lambda: int(args["i"]) * 2)
    return {"v": value, "pid": os.getpid()}


@kontinue.function(PARENT, description="benchmark: n children in parallel")
def bench_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    specs = [
        kontinue.ChildExecutionOptions(function=CHILD, arguments={"i": i})
        for i in range(int(args["n"]))
    ]
    results = kontinue.execute_parallel(ktx, specs)
    return {"sum": sum(r["v"] for r in results), "pids": sorted({r["pid"] for r in results})}


def expected_sum(n: int) -> int:
    return sum(i * 2 for i in range(n))


# -- kontinue ---------------------------------------------------------------------------------


class KontinueRun:
    """The embedded store and an in-process Engine, reused over the repetitions."""

    def __init__(self, state: Path, concurrency: int | None, processes: int = 1) -> None:
        if concurrency is None:
            concurrency = inspect.signature(Engine).parameters["concurrency"].default
        self.threads = int(concurrency)
        self.store = open_store(state / "kontinue", create=True)
        self.engine = Engine(self.store, concurrency=self.threads)
        self.settings = f"{c.kontinue_settings(self.store)}; Engine with {self.threads} threads"
        self.helpers = [
            _helper("--serve-kontinue", str(state / "kontinue"), "--concurrency", str(self.threads))
            for _ in range(processes - 1)
        ]
        if self.helpers:
            self.settings += f"; plus {len(self.helpers)} worker process(es) (kontinue.Worker)"
        self.spread: list[int] = []

    def one(self, n: int) -> float:
        elapsed, final = c.run_kontinue(self.engine, self.store, PARENT, {"n": n}, NAMESPACE)
        if (final.status.result or {}).get("sum") != expected_sum(n):
            c.fail(f"kontinue parent {final.metadata.name} returned {final.status.result!r}", 1)
        self.spread.append(len(final.status.result["pids"]))
        return elapsed

    def close(self) -> None:
        self.executions = len(self.store.list(Execution, NAMESPACE))
        _stop_helpers(self.helpers)
        self.engine.close()
        self.store.close()


def _helper(*args: str) -> subprocess.Popen[str]:
    """Start this script as a helper process; returns once it says it is ready."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        c.fail(f"a helper process ({' '.join(args)}) did not start: {line!r}", 1)
    return proc


def _stop_helpers(helpers: list[subprocess.Popen[str]]) -> None:
    for proc in helpers:
        assert proc.stdin is not None
        proc.stdin.close()  # end of input: the helper stops
    for proc in helpers:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _until_stdin_closes() -> threading.Event:
    """An event set when this process's standard input reaches its end (the parent's stop)."""
    stop = threading.Event()

    def read() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=read, daemon=True).start()
    return stop


def serve_kontinue(state: str, concurrency: int) -> int:
    """A helper process: one kontinue Worker (no controller) on the shared store."""
    from kontinue.runtime import Worker

    store = open_store(state)
    worker = Worker(store, concurrency=concurrency)
    stop = _until_stdin_closes()
    print("ready", flush=True)
    try:
        worker.run(stop)
    finally:
        worker.close()
        store.close()
    return 0


def serve_dbos(db_file: str, poll: float) -> int:
    """A helper process: DBOS launched on the shared file, dequeuing the children."""
    from dbos import DBOS

    dbos_workflows()
    c.launch_dbos("kontinue-bench-fanout", Path(db_file), c.DBOS_WAL)
    DBOS.register_queue(QUEUE, polling_interval_sec=poll)
    stop = _until_stdin_closes()
    print("ready", flush=True)
    stop.wait()
    c.destroy_dbos()
    return 0


# -- DBOS -------------------------------------------------------------------------------------

_DBOS_WF: Any = None
_POLL = {"seconds": DBOS_DEFAULT_POLL}


def dbos_workflows() -> Any:
    """Define the DBOS child and parent workflows once (DBOS registers them by name)."""
    global _DBOS_WF
    if _DBOS_WF is None:
        from dbos import DBOS

        @DBOS.step()
        def bench_child_step(i: int) -> int:
            return i * 2

        @DBOS.workflow()
        def bench_child_wf(i: int) -> tuple[int, int]:
            return int(bench_child_step(i)), os.getpid()

        @DBOS.workflow()
        def bench_parent_wf(n: int) -> int:
            queue = DBOS.retrieve_queue(QUEUE)
            assert queue is not None
            handles = [queue.enqueue(bench_child_wf, i) for i in range(n)]
            poll = _POLL["seconds"]
            results = [h.get_result(polling_interval_sec=poll) for h in handles]
            return sum(v for v, _ in results), len({pid for _, pid in results})

        _DBOS_WF = bench_parent_wf
    return _DBOS_WF


class DbosRun:
    """DBOS launched on its own SQLite file with an unlimited queue; one fan-out per run."""

    def __init__(self, state: Path, variant: str, poll: float, processes: int = 1) -> None:
        from dbos import DBOS

        self.variant = variant
        self.wf = dbos_workflows()
        interval = poll if variant == c.DBOS_WAL else DBOS_DEFAULT_POLL
        db_file = state / f"dbos-{variant}" / "dbos.sqlite"
        c.launch_dbos("kontinue-bench-fanout", db_file, variant)
        # No concurrency limit: every child may run at once (DBOS's executor is unbounded).
        DBOS.register_queue(QUEUE, polling_interval_sec=interval)
        _POLL["seconds"] = interval
        self.settings = f"{c.dbos_settings()}; queue and result polling every {interval:g} s"
        self.counter = 0
        self.spread: list[int] = []
        self.helpers = [
            _helper("--serve-dbos", str(db_file), "--dbos-poll", str(interval))
            for _ in range(processes - 1)
        ]
        if self.helpers:
            self.settings += f"; plus {len(self.helpers)} DBOS process(es) on the same queue"

    def one(self, n: int) -> float:
        from dbos import SetWorkflowID

        self.counter += 1
        wid = f"bench-fanout-{self.variant}-{self.counter}-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        with SetWorkflowID(wid):
            total, processes = self.wf(n)
        elapsed = time.perf_counter() - t0
        if total != expected_sum(n):
            c.fail(f"DBOS parent {wid} returned {total!r}", 1)
        self.spread.append(processes)
        return elapsed

    def close(self) -> None:
        _stop_helpers(self.helpers)
        c.destroy_dbos()


def take_turns(runs: dict[str, Any], n: int, repeat: int) -> dict[str, c.Figures]:
    """A warm-up run of each, then `repeat` rounds of one run each; durations per system."""
    for run in runs.values():
        run.one(n)
    samples: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(repeat):
        for key, run in runs.items():
            samples[key].append(run.one(n))
    return {key: c.time_figures(got) for key, got in samples.items()}


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=100, help="children (default 100)")
    p.add_argument("--repeat", type=int, default=5, help="measured runs each (default 5)")
    p.add_argument("--quick", action="store_true", help="tiny run for tests: n=10, 1 run")
    p.add_argument("--no-dbos", action="store_true", help="skip DBOS (no ratio line)")
    p.add_argument(
        "--dbos-variants",
        default=f"{c.DBOS_WAL},{c.DBOS_DEFAULTS}",
        help="DBOS set-ups, comma-separated: 'wal' (kontinue's SQLite settings, --dbos-poll "
        "polling; the ratio uses it) and 'defaults' (as shipped). Default: both",
    )
    p.add_argument(
        "--dbos-poll",
        type=float,
        default=0.02,
        help="queue and get_result polling interval of the 'wal' variant (s)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="kontinue Engine threads (default: the Engine's own default)",
    )
    p.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help=f"where state goes (default {c.DEFAULT_TMP}; keep it on the real disk)",
    )
    p.add_argument("--keep", action="store_true", help="keep the state files")
    p.add_argument(
        "--processes",
        type=int,
        default=1,
        help="processes sharing the work: the measuring one plus N-1 helpers on the same "
        "store (kontinue Workers) or the same queue (DBOS); default 1",
    )
    p.add_argument("--serve-kontinue", default=None, help=argparse.SUPPRESS)
    p.add_argument("--serve-dbos", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 10, 1
        args.dbos_variants = c.DBOS_WAL
    if args.processes > 1:
        args.dbos_variants = c.DBOS_WAL  # the as-shipped variant runs in one process only
    args.variants = c.parse_variants(p, args.dbos_variants)
    if args.n < 1 or args.repeat < 1 or args.dbos_poll <= 0 or args.processes < 1:
        p.error("--n, --repeat and --processes must be at least 1, --dbos-poll above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_kontinue:
        return serve_kontinue(args.serve_kontinue, args.concurrency or 16)
    if args.serve_dbos:
        return serve_dbos(args.serve_dbos, args.dbos_poll)
    if not args.no_dbos:
        c.require_dbos()
    n, repeat = args.n, args.repeat
    with c.run_dir(args.tmp_dir, args.keep) as state:
        c.say(
            f"fan-out: one parent, {n} parallel children of one durable step each; one "
            f"warm-up run, then {repeat} round(s) in turns; figures are medians; "
            f"{args.processes} process(es)"
        )
        for line in c.machine_notes(state):
            c.say(f"  {line}")

        makers: dict[str, Callable[[], Any]] = {
            "kontinue": lambda: KontinueRun(state, args.concurrency, args.processes)
        }
        if not args.no_dbos:
            makers[c.DBOS_WAL] = lambda: DbosRun(state, c.DBOS_WAL, args.dbos_poll, args.processes)
        settings: dict[str, str] = {}
        kept: dict[str, Any] = {}

        def measure(runs: dict[str, Any]) -> dict[str, c.Figures]:
            settings.update({key: run.settings for key, run in runs.items()})
            kept.update(runs)
            return take_turns(runs, n, repeat)

        figures = c.with_runs(makers, measure)
        variants = args.variants if not args.no_dbos else []
        for variant in variants:
            if variant != c.DBOS_WAL:
                make = functools.partial(DbosRun, state, variant, args.dbos_poll)
                figures.update(c.with_runs({variant: make}, measure))

        c.say()
        k_time = figures["kontinue"]
        c.say(f"kontinue embedded      [{settings['kontinue']}]")
        c.say(f"  parent start -> done {c.fmt_time(k_time)}")
        c.say(
            f"                       (runs in order; the store held "
            f"{kept['kontinue'].executions} Executions at the end)"
        )
        if args.processes > 1:
            for key, run in kept.items():
                c.say(f"  {key}: children ran in this many processes, per run: {run.spread}")
        for variant in variants:
            label = "kontinue's settings" if variant == c.DBOS_WAL else "as shipped"
            c.say(f"DBOS queue {variant:<11} [{settings[variant]}; {label}]")
            c.say(f"  parent start -> done {c.fmt_time(figures[variant])}")

        c.say()
        c.say(f"kontinue fan-out seconds: {k_time.median:.3f}")
        if variants:
            for variant in variants:
                d_time = figures[variant]
                c.say(
                    f"DBOS[{variant}] fan-out seconds: {d_time.median:.3f} "
                    f"(DBOS[{variant}]/kontinue {d_time.median / k_time.median:.2f})"
                )
            ratio = figures[c.DBOS_WAL].median / k_time.median
            verdict = "kontinue is faster" if ratio > 1 else "DBOS is faster"
            c.say(
                "ratio = DBOS[wal] time / kontinue time: above 1 means kontinue is faster "
                f"(here {verdict})"
            )
            c.say(f"ratio: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
