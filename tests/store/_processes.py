"""Starting child processes (spawned: a fresh interpreter, no inherited store) and collecting
what they report."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["PROCESS_SECONDS", "SPAWN", "results", "start"]

SPAWN = multiprocessing.get_context("spawn")
PROCESS_SECONDS = 60.0


def start(fn: Callable[..., None], *args: Any) -> tuple[BaseProcess, Connection]:
    """Run `fn(*args, out)` in a new process; return it and the end of `out` to read from."""
    receive, send = SPAWN.Pipe(duplex=False)
    process = SPAWN.Process(target=fn, args=(*args, send), daemon=True)
    process.start()
    send.close()  # the child now holds the only writing end: EOF once it exits
    return process, receive


def results(process: BaseProcess, receive: Connection) -> Iterator[Any]:
    """Everything the child sends until it exits; then check that it exited cleanly."""
    try:
        while True:
            if not receive.poll(PROCESS_SECONDS):
                raise AssertionError(f"child {process.pid} was silent for {PROCESS_SECONDS}s")
            try:
                yield receive.recv()
            except EOFError:
                break
    finally:
        receive.close()
        process.join(PROCESS_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
    assert process.exitcode == 0, f"child {process.pid} failed with exit code {process.exitcode}"
