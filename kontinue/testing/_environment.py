"""The test environment: a real SQLite store, a virtual clock and an engine that skips time."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from kontinue.api import (
    Execution,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    ObjectMeta,
    ScheduledExecution,
    ScheduledExecutionSpec,
)
from kontinue.runtime import (
    REGISTRY,
    Engine,
    Registry,
    VirtualClock,
    cancel_execution,
    resume_execution,
    retry_execution,
    start_execution,
    tree_state,
)
from kontinue.store import DB_FILE, SQLiteStore

__all__ = ["Environment"]


class Environment:
    """Runs Executions in-process on a real SQLite file, with virtual time.

    When nothing can run, time jumps to the next timer (a sleep's end, a backoff, a poll,
    a timeout), so a function that sleeps for an hour finishes in milliseconds.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        registry: Registry = REGISTRY,
        start: datetime | None = None,
        runners: dict[str, Any] | None = None,
        concurrency: int = 16,
        lease_duration: timedelta = timedelta(seconds=10),
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="kontinue-test-") if path is None else None
        self.path = Path(path if path is not None else self._tmp.name)  # type: ignore[union-attr]
        self.clock = VirtualClock(start)
        self.path.mkdir(parents=True, exist_ok=True)
        # creation timestamps come from the same virtual clock as everything else
        self.store: SQLiteStore = SQLiteStore(self.path / DB_FILE, now=self.clock.now)
        self.engine = Engine(
            self.store,
            registry,
            clock=self.clock,
            runners=runners,
            concurrency=concurrency,
            lease_duration=lease_duration,
        )

    def __enter__(self) -> Environment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine and remove the temporary directory (if one was made)."""
        self.engine.close()
        self.store.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- starting and running ---------------------------------------------------------------

    def start(
        self,
        function: str,
        arguments: Any = None,
        *,
        name: str | None = None,
        retry: ExecutionRetry | None = None,
        timeout: ExecutionTimeout | None = None,
        mutex: ExecutionMutex | None = None,
        ttl: ExecutionTTL | None = None,
    ) -> Execution:
        """Create an Execution without running it."""
        if hasattr(arguments, "model_dump"):
            arguments = arguments.model_dump(mode="json")
        return start_execution(
            self.store,
            function,
            arguments,
            name=name,
            retry=retry,
            timeout=timeout,
            mutex=mutex,
            ttl=ttl,
        )

    def schedule(
        self, name: str, schedule: str, function: str, arguments: Any = None, **spec: Any
    ) -> ScheduledExecution:
        """Create a ScheduledExecution (spec fields as keywords, e.g. `history_limit=10`)."""
        if hasattr(arguments, "model_dump"):
            arguments = arguments.model_dump(mode="json")
        body = ScheduledExecutionSpec(
            schedule=schedule, function=function, arguments=arguments or {}, **spec
        )
        meta = ObjectMeta(name=name, namespace="default")
        return self.store.create(ScheduledExecution(metadata=meta, spec=body))

    def run(self, name: str, *, timeout: float = 60.0, skip_time: bool = True) -> Execution:
        """Run until Execution `name` ends or its tree waits at a manual gate.

        Raises:
            TimeoutError: it did not get there within `timeout` real seconds.
        """

        def done() -> bool:
            state = tree_state(self.store, "default", name)
            # at a gate every function of the tree has parked: wait for their threads too
            return state.finished or (state.parked_at_gate and self.engine.worker.busy == 0)

        if not self.engine.run_until(done, timeout=timeout, skip_time=skip_time):
            raise TimeoutError(f"Execution {name} did not finish within {timeout}s")
        return self.get(name)

    def run_all(self, *, timeout: float = 60.0) -> None:
        """Run until no Execution can move any more (all ended or waiting at gates)."""

        def done() -> bool:
            return all(
                tree_state(self.store, "default", e.metadata.name).finished
                or tree_state(self.store, "default", e.metadata.name).parked_at_gate
                for e in self.store.list(Execution, "default")
                if not any(r.kind == "Execution" for r in e.metadata.owner_references)
            )

        if not self.engine.run_until(done, timeout=timeout, skip_time=True):
            raise TimeoutError(f"Executions did not settle within {timeout}s")

    def execute(self, function: str, arguments: Any = None, **options: Any) -> Execution:
        """Start and run an Execution; returns it when it ended or waits at a gate."""
        ex = self.start(function, arguments, **options)
        return self.run(ex.metadata.name)

    def advance(self, delta: timedelta) -> None:
        """Move virtual time forward by `delta`, timer by timer, running all that falls due.

        Each timer on the way (a sleep's end, a backoff, a poll) fires at its own time, so
        what runs sees the same times it would have seen in real time.
        """
        target = self.clock.now() + delta
        while True:
            self._settle()
            timer = self.engine.controller.next_timer
            if timer is None or timer > target or timer <= self.clock.now():
                break
            self.clock.advance_to(timer)
        self.clock.advance_to(target)
        self._settle()

    def _settle(self) -> None:
        """Run until nothing more can happen at the current virtual time."""
        self.engine.run_until(lambda: self.engine.step() == 0 and self.engine.worker.busy == 0)

    # -- operations -------------------------------------------------------------------------

    def get(self, name: str) -> Execution:
        """The Execution as stored now."""
        return self.store.get(Execution, "default", name)

    def journal(self, name: str) -> list[dict[str, Any]]:
        """The Execution's journal entries."""
        return self.store.read_journal("default", name)

    def resume(self, name: str, suspension: str | None = None) -> list[str]:
        """Resolve open suspensions (as `kontinue resume` does)."""
        return resume_execution(self.store, "default", name, suspension, clock=self.clock)

    def cancel(self, name: str) -> list[str]:
        """Cancel an Execution and its subtree (as `kontinue cancel` does)."""
        return cancel_execution(self.store, "default", name, clock=self.clock)

    def retry(self, name: str) -> Execution:
        """Start a new attempt of a failed Execution (as `kontinue retry` does)."""
        return retry_execution(self.store, "default", name)
