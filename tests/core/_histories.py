"""Loading a recorded journal into a fresh store, as a worker would have left it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kontinue.api import Execution, Lease
from kontinue.testing import Environment


def load_history(
    env: Environment, history: list[dict[str, Any]], function: str, name: str, args: Any
) -> None:
    """Store `history` as the journal of a parked Execution `name` of `function`, with the
    children it spawned finished as they were when it was recorded."""
    for entry in history:
        if entry["kind"] == "spawn":
            child = env.start(entry["function"], None, name=entry["child"])
            child.status.phase = "Completed"
            env.store.update_status(child)
    parent = env.start(function, args, name=name)
    now = env.clock.now()
    parent.status.phase = "Executing"
    parent.status.lease = Lease(
        holder="recorder", acquire_time=now, renew_time=now, expire_time=now + timedelta(hours=1)
    )
    parent = env.store.update_status(parent)
    for entry in history:
        env.store.append_journal("default", name, entry["seq"], entry, "recorder")
    parent.status.phase = "Pending"
    parent.status.lease = None
    env.store.update_status(parent)


def replay_past_the_gate(env: Environment, name: str, live: list[str]) -> Execution:
    """Run `name` to its gate (no step may run again: `live` stays empty), resume it and run
    it to its end; the finished Execution."""
    live.clear()
    parked = env.run(name)
    assert parked.status.phase == "Suspended", parked.status.error
    assert live == [], f"replaying the history ran steps again: {live}"
    env.resume(name)
    done = env.run(name)
    assert done.status.phase == "Completed", done.status.error
    return done
