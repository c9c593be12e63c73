"""1,000 Executions each sleeping one hour hold no threads; on virtual time they all finish.

Run with `-s` to see the measured thread counts and memory.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import kontinue
from kontinue.api import Execution
from kontinue.runtime import Registry
from kontinue.testing import Environment

from .conftest import run_until

REG = Registry()
N = 1000
CONCURRENCY = 16


@kontinue.function("orch-sleep-an-hour", registry=REG)
def sleep_an_hour(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    kontinue.sleep(ktx, timedelta(hours=1))
    return int(args["i"])


def _proc_status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def _measure() -> dict[str, int]:
    pool = sum(t.name.startswith("kontinue-fn") for t in threading.enumerate())
    return {
        "threads": threading.active_count(),
        "pool_threads": pool,
        "os_threads": _proc_status("Threads"),
        "rss_kib": _proc_status("VmRSS"),
    }


def _count(env: Environment, phase: str) -> int:
    return sum(e.status.phase == phase for e in env.store.list(Execution, "default"))


def test_a_thousand_hour_long_sleeps_hold_no_threads(tmp_path: Path) -> None:
    with Environment(tmp_path / "state", registry=REG, concurrency=CONCURRENCY) as env:
        t0 = env.clock.now()
        baseline = _measure()

        for i in range(100):
            env.start("orch-sleep-an-hour", {"i": i}, name=f"sleeper-{i:04d}")
        run_until(env, lambda: _count(env, "Suspended") == 100, timeout=60)
        at_100 = _measure()

        for i in range(100, N):
            env.start("orch-sleep-an-hour", {"i": i}, name=f"sleeper-{i:04d}")
        run_until(env, lambda: _count(env, "Suspended") == N, timeout=60)
        assert env.engine.worker.busy == 0
        at_1000 = _measure()

        env.advance(timedelta(hours=1))
        woken = _measure()
        finished = env.store.list(Execution, "default")

    print(
        f"\n{N} sleeping Executions, worker pool of {CONCURRENCY}:\n"
        f"  (threads = Python threads, of which up to {CONCURRENCY} are the worker pool's)\n"
        f"  baseline        threads={baseline['threads']} (OS {baseline['os_threads']}) "
        f"RSS={baseline['rss_kib'] / 1024:.1f} MiB\n"
        f"  100 parked      threads={at_100['threads']} (OS {at_100['os_threads']}) "
        f"RSS={at_100['rss_kib'] / 1024:.1f} MiB\n"
        f"  {N} parked     threads={at_1000['threads']} (OS {at_1000['os_threads']}) "
        f"RSS={at_1000['rss_kib'] / 1024:.1f} MiB\n"
        f"  after 1h, all done threads={woken['threads']} (OS {woken['os_threads']}) "
        f"RSS={woken['rss_kib'] / 1024:.1f} MiB"
    )
    # no thread per parked Execution: at most the worker's fixed pool on top of the baseline,
    # and parking 900 more starts no thread outside that pool
    for key in ("threads", "os_threads"):
        assert at_1000[key] <= baseline[key] + CONCURRENCY
        assert woken[key] <= baseline[key] + CONCURRENCY
    assert at_1000["pool_threads"] <= CONCURRENCY
    assert (
        at_1000["threads"] - at_1000["pool_threads"] == at_100["threads"] - at_100["pool_threads"]
    )
    # what memory grows by is the cached resources, far below a thread stack per Execution
    assert (at_1000["rss_kib"] - at_100["rss_kib"]) / (N - 100) < 64

    assert len(finished) == N
    assert all(e.status.phase == "Completed" for e in finished)
    assert sorted(e.status.result for e in finished) == list(range(N))
    assert {e.status.finish_time for e in finished} == {t0 + timedelta(hours=1)}
