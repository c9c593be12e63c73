"""What the controller's reconcilers share: a pass, writes, and the functions' defaults.

Each reconciler (timeouts, retries, wake-ups, cancellation, mutexes, schedules, clean-up)
owns one concern and is handed only the objects whose change it cares about, or whose
due time came (kopf's handlers and controller-runtime's reconcilers are the model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kontinue.api import (
    Execution,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    Function,
)
from kontinue.runtime._clock import Clock
from kontinue.runtime._informer import Informer
from kontinue.runtime._jobwatch import JobWatches
from kontinue.runtime._registry import Registry
from kontinue.runtime._timers import Key
from kontinue.store import AlreadyExistsError, ConflictError, NotFoundError, Store

__all__ = ["FunctionDefaults", "Pass", "Reconciler", "Shared", "key_of", "next_attempt", "wake"]


def key_of(obj: Any) -> Key:
    """(namespace, name) of a resource."""
    return (obj.metadata.namespace, obj.metadata.name)


def wake(ex: Execution) -> None:
    """Back to Pending: what the parked Execution waited on happened."""
    ex.status.phase = "Pending"
    ex.status.waiting_on = None


def next_attempt(ex: Execution) -> None:
    """Back to Pending for its next attempt (after a backoff)."""
    ex.status.phase = "Pending"
    ex.status.attempts += 1
    ex.status.backoff_until = None
    ex.status.worker = None  # a new attempt: its first start is a resumption


@dataclass
class Pass:
    """One controller pass: its time, and the due times its reconcilers ask for."""

    now: datetime
    due: dict[Key, datetime] = field(default_factory=dict)
    """Per object, the earliest time it must be looked at again."""
    other: datetime | None = None
    """The earliest time of what has no object of its own (schedules, clean-up)."""

    def timer(self, key: Key, when: datetime) -> None:
        """Look at the object `key` again at `when`."""
        current = self.due.get(key)
        if current is None or when < current:
            self.due[key] = when

    def any_timer(self, when: datetime) -> None:
        """Run again at `when` (for reconcilers that keep their own due times)."""
        if self.other is None or when < self.other:
            self.other = when


class FunctionDefaults:
    """An Execution's retry, timeout, TTL and concurrency: its spec's, else its function's.

    A function's defaults come from `registry` when the controller runs beside a worker,
    else from the Function resources the workers published.
    """

    def __init__(self, informer: Informer, registry: Registry | None) -> None:
        self.informer = informer
        self.registry = registry
        self._published: dict[str, Function] = {}

    def refresh(self) -> None:
        """Read the published Functions anew (once a pass)."""
        self._published = {f.name: f for f in self.informer.of(Function)}

    def _function(self, ex: Execution, *, anywhere: bool = False) -> Function | None:
        name = ex.spec.function
        published: Function | None = self.informer.get(Function, ex.metadata.namespace, name)
        if published is None and anywhere:
            published = self._published.get(name)  # published in another namespace
        return published

    def _defaults(self, ex: Execution) -> tuple[ExecutionRetry | None, ExecutionTimeout | None]:
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            fdef = self.registry.get(name)
            return fdef.retry, fdef.timeout
        published = self._function(ex, anywhere=True)
        if published is None:
            return None, None
        return published.spec.retry, published.spec.timeout

    def retry(self, ex: Execution) -> ExecutionRetry | None:
        """The retry options in force."""
        return ex.spec.retry or self._defaults(ex)[0]

    def timeout(self, ex: Execution) -> ExecutionTimeout | None:
        """The timeouts in force."""
        return ex.spec.timeout or self._defaults(ex)[1]

    def ttl(self, ex: Execution) -> ExecutionTTL | None:
        """The clean-up in force."""
        if ex.spec.ttl is not None:
            return ex.spec.ttl
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            return self.registry.get(name).ttl
        published = self._function(ex)
        return published.spec.ttl if published is not None else None

    def limit(self, ex: Execution) -> int | None:
        """The concurrency limit of the Execution's function, if it has one."""
        name = ex.spec.function
        if self.registry is not None and name in self.registry:
            return self.registry.get(name).concurrency
        published = self._function(ex)
        if published is None or published.spec.concurrency is None:
            return None
        return published.spec.concurrency.limit


@dataclass(frozen=True)
class Shared:
    """What every reconciler of one controller works with."""

    store: Store
    clock: Clock
    informer: Informer
    defaults: FunctionDefaults
    runners: dict[str, Any]
    jobs: JobWatches


class Reconciler:
    """A reconciler's access to the store, the clock, the shared cache and the defaults."""

    def __init__(self, shared: Shared) -> None:
        self.store = shared.store
        self.clock = shared.clock
        self.informer = shared.informer
        self.defaults = shared.defaults
        self.runners = shared.runners
        self.jobs = shared.jobs

    def write(self, ex: Execution, mutate: Callable[[Execution], None]) -> int:
        """Write `mutate` applied to a copy of `ex`'s status; returns the writes made (1)."""
        draft = ex.model_copy(deep=True)
        mutate(draft)
        self.store.update_status(draft)
        return 1

    @staticmethod
    def attempt_write(write: Callable[..., Any], *args: Any) -> int:
        """Make a write that may lose a race (the next pass sees who won); counts as one."""
        try:
            write(*args)
            return 1
        except (ConflictError, AlreadyExistsError, NotFoundError):
            return 1
