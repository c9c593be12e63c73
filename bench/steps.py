#!/usr/bin/env python
"""Durable steps per second: kontinue on its embedded store, DBOS on SQLite, raw SQLite.

One function (a DBOS workflow) of N steps that each store a small value, in one process and
on one disk:

* **raw**: one-row durable SQLite commits (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`, one
  INSERT, COMMIT), the physical limit for one step at a time;
* **kontinue**: `kontinue.store` steps in an Execution run by the in-process `Engine`, timed
  from `start_execution` to the Execution being terminal (nothing subtracted), and the step
  loop alone (timed inside the function);
* **DBOS**: `@DBOS.step()` calls in a `@DBOS.workflow()` called directly, end to end and the
  loop alone. `wal` runs DBOS with kontinue's SQLite settings (WAL + `synchronous=FULL`);
  `defaults` runs it as shipped (rollback journal + `synchronous=FULL`).

Raw, kontinue and DBOS `wal` take turns, one run each per round, so a slow spell of the
disk hits all three alike; DBOS `defaults` runs after them. The last line is `ratio: X.XX`:
kontinue end-to-end steps/s over DBOS `wal` steps/s, both medians.

Usage: `python bench/steps.py [--n 1000] [--repeat 5] [--quick] [--no-dbos] [--profile]`.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import pstats
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

import kontinue
from kontinue.runtime import Engine
from kontinue.store import open_store

FUNCTION = "bench-steps"
NAMESPACE = "default"
WARM_UP = 100  # steps of the unmeasured first run of each system

# Step-loop timings by Execution name / workflow id (measurement only, not durable state).
_LOOPS: dict[str, tuple[float, float]] = {}
_PROFILE: dict[str, cProfile.Profile] = {}

Sample = tuple[float, float]  # (end-to-end seconds, step-loop seconds)


def _value(i: int) -> int:
    return i


@kontinue.function(FUNCTION, description="benchmark: n durable store steps")
def bench_steps(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    n = int(args["n"])
    prof = _PROFILE.get("fn")
    if prof is not None:
        prof.enable()
    t0 = time.perf_counter()
    for i in range(n):
        kontinue.store(ktx, functools.partial(_value, i))
    t1 = time.perf_counter()
    if prof is not None:
        prof.disable()
    _LOOPS[ktx.name] = (t0, t1)
    return {"n": n}


# -- raw SQLite -------------------------------------------------------------------------------


class RawRun:
    """One-row commits: BEGIN IMMEDIATE, INSERT one journal-sized row, COMMIT."""

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
        db = self.db
        t0 = time.perf_counter()
        for _ in range(n):
            seq = self.seq
            body = json.dumps({"seq": seq, "name": f"store-{seq}", "kind": "store", "result": seq})
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO journal VALUES ('bench', ?, ?)", (seq, body))
            db.execute("COMMIT")
            self.seq += 1
        elapsed = time.perf_counter() - t0
        return elapsed, elapsed

    def close(self) -> None:
        self.db.close()


# -- kontinue ---------------------------------------------------------------------------------


class KontinueRun:
    """The embedded store and an in-process Engine, reused over the repetitions."""

    def __init__(self, state: Path) -> None:
        self.store = open_store(state / "kontinue", create=True)
        self.engine = Engine(self.store)
        self.settings = c.kontinue_settings(self.store)

    def one(self, n: int) -> Sample:
        elapsed, final = c.run_kontinue(self.engine, self.store, FUNCTION, {"n": n}, NAMESPACE)
        name = final.metadata.name
        t_start, t_end = _LOOPS.pop(name)
        return elapsed, t_end - t_start

    def profile(self, n: int, top: int) -> None:
        """One extra, profiled Execution: the function's thread and the engine's thread apart."""
        fn_prof, main_prof = cProfile.Profile(), cProfile.Profile()
        _PROFILE["fn"] = fn_prof
        main_prof.enable()
        try:
            self.one(n)
        finally:
            main_prof.disable()
            _PROFILE.clear()
        for title, prof in (
            ("function thread (the step loop: kontinue.store and the store)", fn_prof),
            ("engine thread (run_until: worker poll, controller, informer, done())", main_prof),
        ):
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
            c.say(f"\n== cProfile, {title}, top {top} by cumulative time ==")
            c.say(out.getvalue().rstrip())
        c.say()

    def close(self) -> None:
        self.engine.close()
        self.store.close()


# -- DBOS -------------------------------------------------------------------------------------

_DBOS_WF: Any = None


def dbos_workflow() -> Any:
    """Define the DBOS step and workflow once (DBOS registers them by name)."""
    global _DBOS_WF
    if _DBOS_WF is None:
        from dbos import DBOS

        @DBOS.step()
        def bench_step(i: int) -> int:
            return i

        @DBOS.workflow()
        def bench_steps_wf(n: int) -> int:
            t0 = time.perf_counter()
            for i in range(n):
                bench_step(i)
            t1 = time.perf_counter()
            _LOOPS[str(DBOS.workflow_id)] = (t0, t1)
            return n

        _DBOS_WF = bench_steps_wf
    return _DBOS_WF


class DbosRun:
    """DBOS launched on its own SQLite file; one workflow of n steps per run."""

    def __init__(self, state: Path, variant: str) -> None:
        self.variant = variant
        self.wf = dbos_workflow()
        db_file = state / f"dbos-{variant}" / "dbos.sqlite"
        c.launch_dbos("kontinue-bench-steps", db_file, variant)
        self.settings = c.dbos_settings()
        self.counter = 0

    def one(self, n: int) -> Sample:
        from dbos import SetWorkflowID

        self.counter += 1
        wid = f"bench-steps-{self.variant}-{self.counter}-{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        with SetWorkflowID(wid):
            result = self.wf(n)
        elapsed = time.perf_counter() - t0
        if result != n:
            c.fail(f"DBOS workflow {wid} returned {result!r}", 1)
        t_start, t_end = _LOOPS.pop(wid)
        return elapsed, t_end - t_start

    def close(self) -> None:
        c.destroy_dbos()


# -- running ----------------------------------------------------------------------------------


def take_turns(runs: dict[str, Any], n: int, repeat: int) -> dict[str, tuple[c.Figures, c.Figures]]:
    """A warm-up run of each, then `repeat` rounds of one run each; rates per system."""
    for run in runs.values():
        run.one(min(n, WARM_UP))
    samples: dict[str, list[Sample]] = {key: [] for key in runs}
    for _ in range(repeat):
        for key, run in runs.items():
            samples[key].append(run.one(n))
    return {
        key: (c.rate_figures(n, [s[0] for s in got]), c.rate_figures(n, [s[1] for s in got]))
        for key, got in samples.items()
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="steps per function (default 1000)")
    p.add_argument("--repeat", type=int, default=5, help="measured runs each (default 5)")
    p.add_argument("--quick", action="store_true", help="tiny run for tests: n=50, 1 run")
    p.add_argument("--no-dbos", action="store_true", help="skip DBOS (no ratio line)")
    p.add_argument("--no-raw", action="store_true", help="skip the raw SQLite commits")
    p.add_argument(
        "--dbos-variants",
        default=f"{c.DBOS_WAL},{c.DBOS_DEFAULTS}",
        help="DBOS set-ups to measure, comma-separated: 'wal' (kontinue's SQLite settings; "
        "the ratio uses it, so it always runs) and 'defaults' (as shipped). Default: both",
    )
    p.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=30,
        default=0,
        metavar="TOP",
        help="after the measured runs, profile one more kontinue run and print TOP rows (30)",
    )
    p.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help=f"where state goes (default {c.DEFAULT_TMP}; keep it on the real disk)",
    )
    p.add_argument("--keep", action="store_true", help="keep the state files")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 50, 1
        args.dbos_variants = c.DBOS_WAL
    args.variants = c.parse_variants(p, args.dbos_variants)
    if args.n < 1 or args.repeat < 1:
        p.error("--n and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_dbos:
        c.require_dbos()
    n, repeat = args.n, args.repeat
    with c.run_dir(args.tmp_dir, args.keep) as state:
        c.say(
            f"durable steps: one function of {n} steps; one warm-up run, then {repeat} "
            "round(s) in turns; figures are medians"
        )
        for line in c.machine_notes(state):
            c.say(f"  {line}")

        makers: dict[str, Callable[[], Any]] = {}
        if not args.no_raw:
            makers["raw"] = lambda: RawRun(state)
        makers["kontinue"] = lambda: KontinueRun(state)
        if not args.no_dbos:
            makers[c.DBOS_WAL] = lambda: DbosRun(state, c.DBOS_WAL)
        settings: dict[str, str] = {}

        def measure(runs: dict[str, Any]) -> dict[str, tuple[c.Figures, c.Figures]]:
            settings.update({key: run.settings for key, run in runs.items()})
            figures = take_turns(runs, n, repeat)
            if args.profile and "kontinue" in runs:
                runs["kontinue"].profile(n, args.profile)
            return figures

        figures = c.with_runs(makers, measure)
        for variant in args.variants if not args.no_dbos else []:
            if variant != c.DBOS_WAL:
                make = functools.partial(DbosRun, state, variant)
                figures.update(c.with_runs({variant: make}, measure))

        c.say()
        if "raw" in figures:
            c.say(f"raw SQLite commits     [{settings['raw']}; 1 INSERT + COMMIT per row]")
            c.say(f"  commits/s          {c.fmt_rate(figures['raw'][0], 'commits/s')}")
        k_e2e, k_loop = figures["kontinue"]
        c.say(f"kontinue embedded      [{settings['kontinue']}; 1 journal row committed per step]")
        c.say(f"  end to end         {c.fmt_rate(k_e2e, 'steps/s')}")
        c.say("                     (start_execution -> Execution terminal, nothing subtracted)")
        c.say(f"  step loop only     {c.fmt_rate(k_loop, 'steps/s')}")
        c.say("                     (timed inside the function around its store() loop)")
        for variant in args.variants if not args.no_dbos else []:
            d_e2e, d_loop = figures[variant]
            label = "kontinue's settings" if variant == c.DBOS_WAL else "as shipped"
            c.say(f"DBOS {variant:<17} [{settings[variant]}; {label}]")
            c.say(f"  end to end         {c.fmt_rate(d_e2e, 'steps/s')}")
            c.say("                     (workflow called directly -> returned)")
            c.say(f"  step loop only     {c.fmt_rate(d_loop, 'steps/s')}")

        c.say()
        c.say(f"kontinue steps/s: {k_e2e.median:.1f}")
        c.say(f"kontinue step-loop steps/s: {k_loop.median:.1f}")
        if "raw" in figures:
            raw = figures["raw"][0]
            c.say(f"raw commits/s: {raw.median:.1f}")
            c.say(
                f"kontinue/raw: {k_e2e.median / raw.median:.2f} "
                f"(step loop {k_loop.median / raw.median:.2f}; goal at least 0.33)"
            )
        if not args.no_dbos:
            for variant in args.variants:
                d_e2e = figures[variant][0]
                c.say(
                    f"DBOS[{variant}] steps/s: {d_e2e.median:.1f} "
                    f"(kontinue/DBOS[{variant}] {k_e2e.median / d_e2e.median:.2f})"
                )
            c.say(f"ratio: {k_e2e.median / figures[c.DBOS_WAL][0].median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
