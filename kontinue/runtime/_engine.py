"""The in-process engine: a worker and a controller in one loop, for the embedded mode."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kontinue.api import Execution, Suspension
from kontinue.runtime._clock import Clock, SystemClock
from kontinue.runtime._controller import Controller
from kontinue.runtime._informer import INFORMED_KINDS, Informer
from kontinue.runtime._leader import Elector
from kontinue.runtime._registry import REGISTRY, Registry
from kontinue.runtime._tree import tree_executions, tree_suspensions
from kontinue.runtime._worker import DEFAULT_LEASE, Worker
from kontinue.store import Store

__all__ = ["Engine", "TreeState", "tree_state"]


@dataclass(frozen=True)
class TreeState:
    """Where an Execution tree stands: finished, parked at a manual gate, or still going."""

    root: Execution
    finished: bool
    gates: tuple[Suspension, ...]

    @property
    def parked_at_gate(self) -> bool:
        """True when nothing can move until someone resolves a manual gate."""
        return not self.finished and bool(self.gates)


def tree_state(store: Store, namespace: str, name: str) -> TreeState:
    """Read the root Execution and, unless it ended, the open manual gates of its tree.

    The tree is parked at a gate when nothing in it can move by itself: every unfinished
    Execution waits on a manual gate or on its children.
    """
    root = store.get(Execution, namespace, name)
    if root.terminal:
        return TreeState(root, True, ())
    suspensions = tree_suspensions(store, root)
    gates: list[Suspension] = []
    active = False
    for ex in tree_executions(store, root):
        if ex.terminal:
            continue
        waiting = ex.status.waiting_on
        if ex.status.phase != "Suspended" or waiting is None:
            active = True
        elif waiting.kind == "suspension":
            open_gates = [
                suspensions[n]
                for n in waiting.names
                if n in suspensions
                and suspensions[n].spec.type == "Suspend"
                and not suspensions[n].status.resolved
            ]
            gates.extend(open_gates)
            active = active or not open_gates
        elif waiting.kind != "children":
            active = True
    return TreeState(root, False, () if active else tuple(gates))


class Engine:
    """Runs a worker and a controller together until a condition holds.

    With a virtual clock and `skip_time=True`, idle periods are skipped: when nothing can
    run, time jumps to the controller's next timer (a sleep's end, a backoff, a timeout).
    """

    def __init__(
        self,
        store: Store,
        registry: Registry = REGISTRY,
        *,
        clock: Clock | None = None,
        namespace: str | None = None,
        concurrency: int = 16,
        lease_duration: timedelta = DEFAULT_LEASE,
        services: dict[str, Any] | None = None,
        runners: dict[str, Any] | None = None,
        identity: str | None = None,
        elector: Elector | None = None,
    ) -> None:
        self.store = store
        self.elector = elector  # with one, the controller acts only while it leads
        self.clock = clock or SystemClock()
        runners = runners or {}
        services = {**(services or {}), "runners": runners}
        shared = Informer(store, INFORMED_KINDS, namespace)  # one cache for both
        self.worker = Worker(
            store,
            registry,
            group=None,  # in-process: runs every function it knows, whatever its group
            clock=self.clock,
            namespace=namespace,
            concurrency=concurrency,
            lease_duration=lease_duration,
            services=services,
            identity=identity,
            informer=shared,
        )
        self.controller = Controller(
            store,
            clock=self.clock,
            namespace=namespace,
            runners=runners,
            registry=registry,
            informer=shared,
        )

    def step(self) -> int:
        """One round: start what can run, reconcile once. Returns how much happened."""
        moved = self.worker.poll()
        if self.elector is None or self.elector.leading():
            moved += self.controller.reconcile()
        else:
            self.controller.standby()
        return moved

    def run_until(
        self,
        done: Callable[[], bool],
        *,
        timeout: float | None = None,
        skip_time: bool = False,
        on_tick: Callable[[], None] | None = None,
        tick: float = 0.2,
    ) -> bool:
        """Run until `done()` is true; False if `timeout` (real seconds) passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if done():
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            moved = self.step()
            if on_tick is not None:
                on_tick()
            if moved:
                continue
            if self.worker.busy:
                # a running function writes (wakes this at once) or ends (seen within 20 ms)
                self.worker.informer.sync(timeout=min(tick, 0.02))
                continue
            timer = self.controller.next_timer
            if self.clock.virtual:
                if skip_time and timer is not None and not done():
                    self.clock.advance_to(timer)  # type: ignore[attr-defined]
                    continue
                self.worker.informer.sync(timeout=tick)
                continue
            wait = tick
            if timer is not None:
                wait = min(wait, max(0.0, (timer - self.clock.now()).total_seconds()))
            self.controller.jobs.wait(self.worker.informer, wait)

    def close(self) -> None:
        """Stop the worker (waiting for running functions) and the controller's watches."""
        self.worker.close()
        self.controller.close()
