"""Running an Execution in the CLI process on the embedded store, with a live status display."""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kontinue.api import Execution
from kontinue.cli._hints import command
from kontinue.cli._live import Display
from kontinue.cli._render import dump
from kontinue.cli._resume import step_word
from kontinue.runtime import Engine, Registry, TreeState, tree_executions, tree_state
from kontinue.store import Store

__all__ = ["SERVER_LOCK", "follow", "run_in_process", "server_running"]

SERVER_LOCK = "server.lock"


def server_running(state_dir: Path) -> bool:
    """Whether a `kontinue server` holds the state directory's lock."""
    path = state_dir / SERVER_LOCK
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _waiter(
    store: Store,
    namespace: str,
    name: str,
    registry: Registry | None = None,
    importer: Callable[[set[str]], set[str]] | None = None,
) -> tuple[Any, list[TreeState], list[Execution]]:
    """A `done()` for the run loop: the tree ended, waits at a gate, or waits for a worker
    this process cannot be (a child of a function that is not imported here)."""
    last: list[TreeState] = []
    stranded: list[Execution] = []
    checked = [0.0]
    since: dict[str, float] = {}

    def done() -> bool:
        root = store.get(Execution, namespace, name)
        if root.terminal:
            last[:] = [TreeState(root, True, ())]
            return True
        now = time.monotonic()
        if now - checked[0] < 0.05:
            return False
        checked[0] = now
        state = tree_state(store, namespace, name)
        last[:] = [state]
        if state.parked_at_gate:
            return True
        if registry is not None:
            waiting = [
                e
                for e in tree_executions(store, state.root)
                if e.status.phase == "Pending" and e.spec.function not in registry
            ]
            if waiting and importer is not None:  # a child of a function imported elsewhere
                importer({e.spec.function for e in waiting})
                waiting = [e for e in waiting if e.spec.function not in registry]
            for e in waiting:
                since.setdefault(e.metadata.name, now)
            stranded[:] = [e for e in waiting if now - since[e.metadata.name] > 1.0]
            return bool(stranded)
        return False

    return done, last, stranded


def run_in_process(
    engine: Engine,
    name: str,
    namespace: str,
    *,
    out: TextIO | None = None,
    output: str | None = None,
    importer: Callable[[set[str]], set[str]] | None = None,
    stop: threading.Event | None = None,
    color: bool = True,
    log_runners: dict[str, Any] | None = None,
) -> int:
    """Run the tree of Execution `name` here until it ends, parks at a manual gate, or `stop`.

    Returns:
        The exit code: 0 Completed or waiting at a gate, 1 Failed or Canceled, 143 stopped
        (SIGTERM: the caller hands running functions back).
    """
    out = out or sys.stderr
    store = engine.store
    display = Display(
        store, name, namespace, out, color=color, log_runners=log_runners, logs_from_now=True
    )
    done, last, stranded = _waiter(store, namespace, name, engine.worker.registry, importer)
    _say_held(store, namespace, name, engine.worker.identity, out)
    stopped = stop or threading.Event()
    try:
        engine.run_until(lambda: stopped.is_set() or done(), on_tick=display.update)
    finally:
        display.close()
    if stopped.is_set() and not done():
        out.write(
            f"kontinue: stopped (SIGTERM); Execution {name} is kept as it is: a worker or "
            f"`{command('resume', name)}` carries it on\n"
        )
        return 143
    for ex in stranded:
        out.write(
            f"Execution {ex.metadata.name} waits for a worker that runs function "
            f"{ex.spec.function!r}, which is not imported here and has no recorded source; "
            "pass --import with the file or module that defines it, to this command or to a "
            "kontinue worker; its state is kept\n"
        )
    if stranded:
        return 2
    return report(last[0], out, output, store)


def _say_held(store: Store, namespace: str, name: str, me: str, out: TextIO) -> None:
    """Say which Executions of the tree another worker's lease still holds, and until when.

    After a crash the dead worker's lease must run out before anyone may take its work over;
    waiting for it in silence looks like a hang.
    """
    now = datetime.now(UTC)
    try:
        root = store.get(Execution, namespace, name)
        executions = tree_executions(store, root)
    except Exception:
        return
    for ex in executions:
        lease = ex.status.lease
        if ex.status.phase != "Executing" or lease is None or lease.holder == me:
            continue
        left = (lease.expire_time - now).total_seconds()
        if left > 0:
            out.write(
                f"Execution {ex.metadata.name} is held by worker {lease.holder} (lease until "
                f"{lease.expire_time:%H:%M:%S} UTC, {left:.0f}s more): waiting for it to hand "
                "it back, or for the lease to run out if that worker is gone\n"
            )
            out.flush()


def follow(
    store: Store,
    name: str,
    namespace: str,
    *,
    out: TextIO | None = None,
    color: bool = True,
    log_runners: dict[str, Any] | None = None,
) -> int:
    """Watch an Execution run elsewhere (a server, a worker) until it ends or parks."""
    out = out or sys.stderr
    display = Display(store, name, namespace, out, color=color, log_runners=log_runners)
    done, last, _ = _waiter(store, namespace, name)
    try:
        while not done():
            display.update()
            for _ in store.watch(timeout=0.5):
                break
    finally:
        display.close()
    return report(last[0], out, None, store)


def report(state: TreeState, out: TextIO, output: str | None, store: Store | None = None) -> int:
    """Say how an Execution ended (or where it waits) and return the exit code."""
    ex = state.root
    name = ex.metadata.name
    if state.finished:
        if ex.status.phase == "Completed":
            if output:
                sys.stdout.write(
                    dump(ex.status.result, output) + ("\n" if output == "json" else "")
                )
            elif ex.status.result is not None:
                sys.stdout.write(dump(ex.status.result, "json") + "\n")
            out.write(f"Execution {name} completed{_took(ex)}\n")
            return 0
        error = ex.status.error
        detail = f"{error.kind}: {error.message}" if error else ex.status.message or ""
        out.write(f"Execution {name} {ex.status.phase.lower()}: {detail}\n")
        if error and error.stack_trace:
            frames = [
                ln.strip()
                for ln in error.stack_trace.splitlines()
                if ln.strip().startswith("File ")
            ]
            if frames:
                out.write(f"  raised at {frames[-1]} (`{command('get', name)}` shows the stack)\n")
        if ex.status.phase == "Failed":
            out.write(f"  retry it with: {command('retry', name)}\n")
        return 1
    for gate in state.gates:
        what = gate.spec.display_name or gate.spec.step
        word = step_word(store, ex, gate) if store is not None else gate.metadata.name
        out.write(
            f"Execution {name} is waiting for approval: {what}\n"
            f"  approve with: {command('resume', name, word)}\n"
        )
    return 0


def _took(ex: Execution) -> str:
    start, end = ex.status.start_time, ex.status.finish_time
    return f" in {(end - start).total_seconds():.1f}s" if start and end else ""


def interactive() -> bool:
    """Whether stderr is a terminal and CI is not set."""
    return sys.stderr.isatty() and not os.environ.get("CI")
