"""Functions of the group-commit crash test, run in `kontinue worker` subprocesses."""

from __future__ import annotations

import os
from typing import Any

import kontinue


@kontinue.function("crash-stepper", description="n store steps; reports each one returned")
def stepper(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    fd = os.open(args["report"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for i in range(int(args["n"])):
            value = kontinue.store(ktx, lambda i=i: f"{args['id']}:{i}")
            # the step's call returned: its row must be on disk now, whatever happens next
            os.write(fd, f"{value}\n".encode())
    finally:
        os.close(fd)
    return int(args["n"])
