"""Functions the core tests run in worker subprocesses."""

from __future__ import annotations

import os
import time
from pathlib import Path

import kontinue


@kontinue.function("twenty-steps", description="20 durable steps, each leaving a mark")
def twenty_steps(ktx: kontinue.ExecutionContext, args: dict) -> dict:
    marks = Path(args["marks"])
    values = []
    for i in range(20):

        def step(i: int = i) -> int:
            with marks.open("a") as fh:
                fh.write(f"{i}\n")
                fh.flush()
                os.fsync(fh.fileno())
            time.sleep(args.get("delay", 0.1))
            return i * i

        values.append(kontinue.store(ktx, step))
    return {"sum": sum(values), "resumptions": ktx.resumptions()}
