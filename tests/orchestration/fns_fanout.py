"""Functions the fan-out kill test runs in `kontinue worker` subprocesses."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import kontinue


@kontinue.function("fanout-child", description="append a mark per run, work a while, return i*10")
def fanout_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    with Path(args["marks"]).open("a") as fh:
        fh.write(f"{args['i']}\n")
        fh.flush()
        os.fsync(fh.fileno())
    time.sleep(args["work"])  # real work in a real process: the window the kill lands in
    return int(args["i"]) * 10


@kontinue.function("fanout-parent", description="fan out n children with execute_parallel")
def fanout_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[int]:
    specs = [
        kontinue.ChildExecutionOptions(
            function="fanout-child",
            arguments={"i": i, "marks": args["marks"], "work": args["work"]},
        )
        for i in range(args["n"])
    ]
    return kontinue.execute_parallel(ktx, specs)
