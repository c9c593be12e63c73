"""Entry points of the child processes the contract suite starts (spawned, so importable)."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any

from kontinue.api import Execution, ExecutionSpec, Lease, ObjectMeta
from kontinue.store import ConflictError
from tests.store._backends import StoreTarget

__all__ = ["increment", "open_and_create", "race", "read_back", "write_then_die"]

BARRIER_SECONDS = 60.0


def race(target: StoreTarget, name: str, rounds: int, barrier: Barrier, out: Connection) -> None:
    """Each round: read the Execution, wait until the other racer has read it too, then write.

    Sends `(round, resourceVersion read, "won" | "conflict")` for every round.
    """
    store = target.open()
    try:
        for round_ in range(rounds):
            ex = store.get(Execution, "default", name)
            barrier.wait(BARRIER_SECONDS)  # both racers hold the same resourceVersion
            ex.status.attempts += 1
            ex.status.message = f"pid {os.getpid()} won round {round_}"
            try:
                store.update_status(ex)
                outcome = "won"
            except ConflictError:
                outcome = "conflict"
            out.send((round_, ex.metadata.resource_version, outcome))
            barrier.wait(BARRIER_SECONDS)  # both have written before the next read
    except BaseException:
        barrier.abort()  # the other racer fails at once instead of waiting for this one
        raise
    finally:
        store.close()
        out.close()


def increment(
    target: StoreTarget, name: str, times: int, barrier: Barrier, out: Connection
) -> None:
    """Add 1 to the Execution's `status.attempts` `times` times, re-reading on every conflict.

    Sends `(values this process wrote, conflicts met)`.
    """
    store = target.open()
    written: list[int] = []
    conflicts = 0
    try:
        barrier.wait(BARRIER_SECONDS)
        for _ in range(times):
            while True:
                ex = store.get(Execution, "default", name)
                ex.status.attempts += 1
                try:
                    store.update_status(ex)
                except ConflictError:
                    conflicts += 1
                    continue
                written.append(ex.status.attempts)
                break
        out.send((written, conflicts))
    except BaseException:
        barrier.abort()
        raise
    finally:
        store.close()
        out.close()


def write_then_die(target: StoreTarget, name: str, out: Connection) -> None:
    """Create, claim and journal an Execution, report what the store acknowledged, then
    SIGKILL this process at once: nothing gets a chance to flush or close."""
    store = target.open()
    ex = store.create(Execution(metadata=ObjectMeta(name=name), spec=ExecutionSpec(function="f")))
    now = datetime.now(UTC)
    ex.status.phase = "Executing"
    ex.status.lease = Lease(
        holder="doomed", acquire_time=now, renew_time=now, expire_time=now + timedelta(hours=1)
    )
    ex = store.update_status(ex)
    store.append_journal("default", name, 0, {"seq": 0, "name": "step-1", "value": 42}, "doomed")
    out.send(ex.metadata.resource_version)  # a synchronous write to the pipe
    os.kill(os.getpid(), signal.SIGKILL)


def read_back(target: StoreTarget, name: str, out: Connection) -> None:
    """Send the Execution as stored and its journal, as a fresh process reads them."""
    store = target.open()
    try:
        ex = store.get(Execution, "default", name)
        journal: list[dict[str, Any]] = store.read_journal("default", name)
        out.send((ex.wire(), journal))
    finally:
        store.close()
        out.close()


def open_and_create(targets: list[StoreTarget], barrier: Barrier, out: Connection) -> None:
    """For each new store in turn: open it at the same moment as the other children, then
    create one Execution in it and send its name."""
    for target in targets:
        barrier.wait(BARRIER_SECONDS)
        try:
            store = target.open()
        except BaseException:
            barrier.abort()  # the others fail at once instead of waiting for this one
            raise
        try:
            spec = ExecutionSpec(function="f")
            ex = store.create(Execution(metadata=ObjectMeta(generate_name="opened-"), spec=spec))
            out.send(ex.metadata.name)
        finally:
            store.close()
    out.close()
