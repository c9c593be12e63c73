"""Functions the schedule and concurrency CLI tests import into `kontinue` processes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import kontinue


def _mark(path: str, what: str, name: str) -> None:
    with Path(path).open("a") as fh:
        fh.write(f"{what} {name} {time.time():.6f} {os.getpid()}\n")
        fh.flush()
        os.fsync(fh.fileno())


@kontinue.function("sched-cli-work", description="enter, work a little (real time), leave")
def work(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    def critical() -> str:
        _mark(args["marks"], "enter", ktx.name)
        time.sleep(float(args.get("seconds", 0.3)))
        _mark(args["marks"], "exit", ktx.name)
        return "done"

    return kontinue.store(ktx, critical)


@kontinue.function(
    "sched-cli-limited",
    description="like sched-cli-work, at most two at a time",
    concurrency=2,
)
def limited(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    return work(ktx, args)


@kontinue.function("sched-cli-hello", description="say hello")
def hello(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    return kontinue.store(ktx, lambda: f"hello {args.get('name', 'world')}")
