"""Functions for the CLI tests: a gate, then a child with a named gate of its own."""

from __future__ import annotations

import kontinue


@kontinue.function("fan", description="Waits at a gate, then calls kid")
def fan(ktx: kontinue.ExecutionContext, args: dict) -> dict:
    kontinue.suspend(ktx)
    return {"kid": kontinue.execute(ktx, "kid", {"n": args.get("n", 1)})}


@kontinue.function("kid", description="Waits at the gate `approve`, then adds one")
def kid(ktx: kontinue.ExecutionContext, args: dict) -> int:
    kontinue.suspend(ktx, kontinue.SuspendOptions(name="approve", display_name="Approve kid"))
    return int(args["n"]) + 1
