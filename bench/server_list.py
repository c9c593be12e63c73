"""The server's list API with many Executions in the store, and what an idle open page costs.

    python bench/server_list.py            # --n 10000 --repeat 30 --idle 10

Fills a fresh SQLite store with N Executions (finished ones in four phases, some Pending for
a function no worker has, ten functions, two teams), starts a real `kontinue server` on it,
and times over HTTP: the first page (50 rows, newest first), a phase filter, a name search,
a label selector and the fifth page. Beside it, in the same run, the way without an index:
read every Execution through the store, sort and cut a page (what `kontinue list` and a
server without an index do). Then the server's CPU time while idle, with no page open and
with 20 pages open on the event stream. Last line: `ratio: X.XX` = without / with index.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common
import httpx

from kontinue.api import ErrorRecord, Execution, ExecutionSpec, ExecutionStatus, ObjectMeta
from kontinue.store import SQLiteStore, open_store

PHASES = ("Completed", "Completed", "Completed", "Failed", "Canceled", "Skipped")


def fill(state_dir: Path, n: int) -> float:
    store = open_store(state_dir, create=True)
    started = time.perf_counter()
    base = datetime.now(UTC) - timedelta(days=3)
    for i in range(n):
        phase = "Pending" if i % 50 == 0 else PHASES[i % len(PHASES)]
        status = ExecutionStatus(phase=phase)  # type: ignore[arg-type]
        if phase != "Pending":
            status.start_time = base + timedelta(seconds=i * 20)
            status.finish_time = status.start_time + timedelta(seconds=5 + i % 40)
            status.message = f"run {i} ended"
            if phase == "Failed":
                status.error = ErrorRecord(message=f"step {i % 7} failed", retryable=False)
        fn = "nobody-runs-this" if phase == "Pending" else f"fn-{i % 10}"
        store.create(
            Execution(
                metadata=ObjectMeta(
                    name=f"job-{i:05d}",
                    labels={"team": "a" if i % 2 else "b", "batch": str(i % 13)},
                ),
                spec=ExecutionSpec(function=fn, arguments={"n": i, "payload": "x" * 200}),
                status=status,
            )
        )
    store.close()
    return time.perf_counter() - started


def start_server(state_dir: Path) -> tuple[subprocess.Popen[str], str, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kontinue", "--state-dir", str(state_dir), "server", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(_common.REPO_DIR)},
        start_new_session=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"UI and API on (http://\S+)", line)
        if found:
            threading.Thread(
                target=lambda: [None for _ in process.stderr or []], daemon=True
            ).start()
            return process, found.group(1), time.perf_counter() - started
    _common.fail(f"the server did not start (exit {process.wait()})")
    raise AssertionError


def timed(
    client: httpx.Client, path: str, params: dict[str, str], repeat: int
) -> tuple[float, int]:
    seconds = []
    total = 0
    for _ in range(repeat):
        t = time.perf_counter()
        answer = client.get(path, params=params)
        seconds.append(time.perf_counter() - t)
        assert answer.status_code == 200, answer.text
        total = answer.json()["total"]
    return statistics.median(seconds) * 1000, total


def deep_page(client: httpx.Client, pages: int, repeat: int) -> float:
    token = None
    for _ in range(pages - 1):
        params = {"limit": "50"} | ({"continue": token} if token else {})
        token = client.get("/api/v1/executions", params=params).json()["continue"]
    assert token
    ms, _ = timed(client, "/api/v1/executions", {"limit": "50", "continue": token}, repeat)
    return ms


def naive_page(state_dir: Path, repeat: int) -> float:
    store = SQLiteStore(state_dir / "kontinue.db")
    seconds = []
    for _ in range(repeat):
        t = time.perf_counter()
        items = store.list(Execution, "default")
        items.sort(key=lambda e: (e.metadata.creation_timestamp, e.metadata.name), reverse=True)
        page = [e.wire() for e in items[:50]]
        seconds.append(time.perf_counter() - t)
        assert len(page) == 50
    store.close()
    return statistics.median(seconds) * 1000


def index_query(state_dir: Path, repeat: int) -> tuple[float, float]:
    """The index alone, in this process: its load time and one first-page query."""
    from kontinue.server import ExecutionIndex
    from kontinue.server._index import Query

    store = SQLiteStore(state_dir / "kontinue.db")
    index = ExecutionIndex(store, None)
    t = time.perf_counter()
    index.load()
    loaded = time.perf_counter() - t
    seconds = []
    for _ in range(repeat):
        t = time.perf_counter()
        page = index.query(Query(limit=50))
        seconds.append(time.perf_counter() - t)
        assert len(page.items) == 50
    store.close()
    return loaded, statistics.median(seconds) * 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def open_streams(url: str, count: int, stop: threading.Event) -> list[threading.Thread]:
    ready = threading.Barrier(count + 1, timeout=60)

    def listen() -> None:
        with httpx.Client(base_url=url, timeout=None) as c, c.stream("GET", "/api/v1/events") as s:
            lines = s.iter_lines()
            next(lines)
            ready.wait()
            for _ in lines:
                if stop.is_set():
                    return

    threads = [threading.Thread(target=listen, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of each idle window")
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--tmp-dir", type=Path, default=_common.DEFAULT_TMP)
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeat, args.idle = 300, 3, 1.0
    _common.say(f"# server list API with {args.n} Executions ({time.strftime('%Y-%m-%d %H:%M')})")
    with _common.run_dir(args.tmp_dir, keep=False) as tmp:
        state = tmp / "state"
        filled = fill(state, args.n)
        _common.say(f"filled the store in {filled:.1f} s")
        process, url, startup = start_server(state)
        try:
            _common.say(f"server listening after {startup:.2f} s (index of {args.n} loaded)")
            with httpx.Client(base_url=url, timeout=60) as c:
                rows = [
                    ("first page (50, newest first)", {"limit": "50"}),
                    ("phase=Failed", {"limit": "50", "phase": "Failed"}),
                    ("search name 0123", {"limit": "50", "search": "0123"}),
                    ("selector team=a,batch=7", {"limit": "50", "selector": "team=a,batch=7"}),
                    (
                        "function fn-3, top level",
                        {"limit": "50", "function": "fn-3", "toplevel": "true"},
                    ),
                ]
                first = 0.0
                for label, params in rows:
                    ms, total = timed(c, "/api/v1/executions", params, args.repeat)
                    first = first or ms
                    _common.say(f"  {label:<34} {ms:8.1f} ms  ({total} match)")
                _common.say(
                    f"  {'fifth page (continue token)':<34} {deep_page(c, 5, args.repeat):8.1f} ms"
                )
            loaded, alone = index_query(state, args.repeat)
            _common.say(f"the index alone: loaded in {loaded:.2f} s, first page in {alone:.2f} ms")
            naive = naive_page(state, max(3, args.repeat // 10))
            _common.say(f"without an index: read all, sort, cut 50   {naive:8.1f} ms")
            quiet = idle_cpu(process.pid, args.idle)
            stop = threading.Event()
            open_streams(url, 20, stop)
            watched = idle_cpu(process.pid, args.idle)
            stop.set()
            _common.say(
                f"server CPU while idle: {quiet:.2f} % with no page open, "
                f"{watched:.2f} % with 20 pages open on /api/v1/events"
            )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    _common.say(f"ratio: {naive / first:.2f}")


if __name__ == "__main__":
    main()
