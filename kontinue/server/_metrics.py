"""Prometheus metrics with the original platform's names, derived from the store's changes.

- `kontinue_executions_running{function,namespace,worker}` gauge: Executing, by lease holder;
- `kontinue_execution_latency{function,namespace,worker}` histogram: seconds from the start of
  an Execution to its end (Completed, Failed, Canceled or Skipped);
- `kontinue_executions_completed{function,result}` counter: ends, `success` or `error`;
- `kontinue_execution_states{function,state,namespace,worker}` gauge: Executions per phase;
- `kontinue_queue_pending` and `kontinue_queue_oldest_pending_seconds`: work waiting for a
  worker; `kontinue_journal_writes` (counter, by step kind) and
  `kontinue_journal_write_seconds` (histogram): the durable step writes of this process.

Everything but the journal figures comes from watching Executions change, so a server, a
worker or a controller shows the same figures for the same store.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kontinue.api import TERMINAL_PHASES, Execution, JournalEntry, Resource, StepEntry
from kontinue.store import Selector, Store, WatchEvent

__all__ = ["CONTENT_TYPE", "MeteredStore", "Metrics"]

R = TypeVar("R", bound=Resource)
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin series
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)


class _Counter:
    """A counter shown under its exact name (the Python client would add `_total`)."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *values: str, by: float = 1.0) -> None:
        with self._lock:
            self.values[values] = self.values.get(values, 0.0) + by

    def family(self) -> Metric:
        metric = Metric(self.name, self.doc, "counter")
        with self._lock:
            for values, count in sorted(self.values.items()):
                metric.add_sample(self.name, dict(zip(self.labels, values, strict=True)), count)
        return metric


class Metrics(Collector):
    """The figures of one process: fed by `observe(events)`, read by `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "kontinue_execution_latency",
            "Seconds from the start of an Execution to its end",
            ["function", "namespace", "worker"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.completed = _Counter(
            "kontinue_executions_completed",
            "Executions that ended, by result (success or error)",
            ("function", "result"),
        )
        self.journal_writes = _Counter(
            "kontinue_journal_writes", "Steps written to Execution journals", ("kind",)
        )
        self.journal_seconds = Histogram(
            "kontinue_journal_write_seconds",
            "Seconds to write one step durably",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        self._pending: dict[tuple[str, str], datetime] = {}
        self._holders: dict[tuple[str, str], str] = {}
        self._states: dict[tuple[str, str, str, str], int] = {}
        self.registry.register(self)

    # -- feeding ------------------------------------------------------------------------

    def load(self, executions: Iterable[Execution]) -> None:
        """Start from a full list (at start, or when the watch lost track)."""
        with self._lock:
            self._last.clear()
            self._pending.clear()
            self._states.clear()
            for ex in executions:
                self._put((ex.metadata.namespace, ex.metadata.name), ex)

    def observe(self, events: Iterable[WatchEvent]) -> None:
        """Apply Execution changes: states move, ends are counted and timed."""
        with self._lock:
            for ev in events:
                if ev.kind != Execution.KIND:
                    continue
                key = (ev.namespace, ev.name)
                before = self._last.pop(key, None)
                if before is not None:
                    self._bump(before, -1)
                self._pending.pop(key, None)
                if ev.type == "DELETED":
                    self._holders.pop(key, None)
                    continue
                ex = Execution.model_validate(ev.object)
                self._put(key, ex)
                if ex.terminal and before is not None and before[1] not in TERMINAL_PHASES:
                    self._ended(ex, self._holders.pop(key, ""))

    def _put(self, key: tuple[str, str], ex: Execution) -> None:
        st = ex.status
        if st.lease is not None:
            self._holders[key] = st.lease.holder
        state = (ex.spec.function, st.phase, key[0], st.lease.holder if st.lease else "")
        self._last[key] = state
        self._bump(state, +1)
        if st.phase == "Pending":
            self._pending[key] = ex.metadata.creation_timestamp or datetime.now(UTC)

    def _bump(self, state: tuple[str, str, str, str], delta: int) -> None:
        value = self._states.get(state, 0) + delta
        if value:
            self._states[state] = value
        else:
            self._states.pop(state, None)

    def _ended(self, ex: Execution, worker: str) -> None:
        fn = ex.spec.function
        self.completed.inc(fn, "success" if ex.status.phase == "Completed" else "error")
        start = ex.status.start_time
        end = ex.status.finish_time
        if start is not None and end is not None:
            self.latency.labels(fn, ex.metadata.namespace, worker).observe(
                max(0.0, (end - start).total_seconds())
            )

    def journal_write(self, kind: str, seconds: float) -> None:
        """Count one durable step write of this process."""
        self.journal_writes.inc(kind)
        self.journal_seconds.observe(seconds)

    # -- reading ------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The gauges, computed from the live view at scrape time, and the counters."""
        running = GaugeMetricFamily(
            "kontinue_executions_running",
            "Executions a worker runs now",
            labels=["function", "namespace", "worker"],
        )
        states = GaugeMetricFamily(
            "kontinue_execution_states",
            "Executions in each phase",
            labels=["function", "state", "namespace", "worker"],
        )
        pending = GaugeMetricFamily("kontinue_queue_pending", "Executions waiting for a worker")
        oldest = GaugeMetricFamily(
            "kontinue_queue_oldest_pending_seconds",
            "How long the oldest Pending Execution has waited",
        )
        now = datetime.now(UTC)
        with self._lock:
            for (fn, phase, ns, worker), count in sorted(self._states.items()):
                states.add_metric([fn, phase, ns, worker], count)
                if phase == "Executing":
                    running.add_metric([fn, ns, worker], count)
            waiting = list(self._pending.values())
        pending.add_metric([], len(waiting))
        oldest.add_metric([], (now - min(waiting)).total_seconds() if waiting else 0.0)
        yield from (running, states, pending, oldest, self.completed.family())
        yield self.journal_writes.family()

    def exposition(self) -> bytes:
        """The text a Prometheus scrape gets."""
        return generate_latest(self.registry)


class MeteredStore:
    """A `Store` that times the durable step writes going through it, for the metrics."""

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def __getattr__(self, name: str) -> Any:
        # what a backend offers beyond the protocol (the Kubernetes store's api_client)
        return getattr(self.inner, name)

    def create(self, obj: R) -> R:
        return self.inner.create(obj)

    def get(self, cls: type[R], namespace: str, name: str) -> R:
        return self.inner.get(cls, namespace, name)

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
    ) -> builtins.list[R]:
        return self.inner.list(cls, namespace, selector, phases=phases)

    def iterate(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[R]:
        return self.inner.iterate(cls, namespace, selector, phases=phases, page=page)

    def iterate_wire(
        self,
        kind: str,
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[dict[str, Any]]:
        return self.inner.iterate_wire(kind, namespace, selector, phases=phases, page=page)

    def update(self, obj: R) -> R:
        return self.inner.update(obj)

    def update_status(self, obj: R) -> R:
        return self.inner.update_status(obj)

    def delete(self, cls: type[Resource], namespace: str, name: str) -> None:
        self.inner.delete(cls, namespace, name)

    def watch(
        self,
        since: str | None = None,
        kinds: tuple[str, ...] | None = None,
        namespace: str | None = None,
        timeout: float = 0.0,
    ) -> Iterator[WatchEvent]:
        return self.inner.watch(since, kinds, namespace, timeout)

    def current_version(self) -> str:
        return self.inner.current_version()

    def append_journal(
        self,
        namespace: str,
        name: str,
        seq: int,
        entry: Mapping[str, Any] | StepEntry,
        holder: str,
    ) -> None:
        started = time.perf_counter()
        self.inner.append_journal(namespace, name, seq, entry, holder)
        kind = entry.kind if isinstance(entry, StepEntry) else str(entry.get("kind", ""))
        self.metrics.journal_write(kind, time.perf_counter() - started)

    def read_journal(self, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        return self.inner.read_journal(namespace, name)

    def read_entries(self, namespace: str, name: str) -> builtins.list[JournalEntry]:
        return self.inner.read_entries(namespace, name)

    def close(self) -> None:
        self.inner.close()
