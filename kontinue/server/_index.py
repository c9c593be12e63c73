"""The server's list index: one small summary per Execution, kept current from the engine's
informer, so that listing, filtering and paging never parse every Execution in the store."""

from __future__ import annotations

import base64
import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kontinue.api import Execution
from kontinue.runtime import PARENT_LABEL, ROOT_LABEL
from kontinue.store import Selector, Store, WatchEvent

__all__ = ["PIPELINE_LABEL", "ExecutionIndex", "Page", "Query", "summary"]

PIPELINE_LABEL = "kontinue.cloud/pipeline"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def summary(ex: Execution) -> dict[str, Any]:
    """What a list row shows of an Execution (JSON-plain, camelCase)."""
    st = ex.status
    meta = ex.metadata
    message = st.message
    if st.error is not None and st.phase in ("Failed", "Backoff", "Canceled"):
        message = st.error.message if st.phase != "Backoff" else (st.message or st.error.message)
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "uid": meta.uid,
        "function": ex.spec.function,
        "displayName": ex.spec.display_name,
        "pipeline": meta.labels.get(PIPELINE_LABEL),
        "phase": st.phase,
        "message": message,
        "progress": st.progress.wire() if st.progress else None,
        "attempts": st.attempts,
        "created": _iso(meta.creation_timestamp),
        "started": _iso(st.start_time),
        "finished": _iso(st.finish_time),
        "parent": meta.labels.get(PARENT_LABEL),
        "root": meta.labels.get(ROOT_LABEL) or meta.name,
        "labels": dict(meta.labels),
        "worker": st.lease.holder if st.lease else None,
        "resourceVersion": meta.resource_version,
    }


@dataclass(frozen=True)
class Query:
    """A list request: filters, then newest first, then a page after `after`."""

    namespace: str | None = "default"
    phases: frozenset[str] = frozenset()
    function: str | None = None
    selector: Selector = field(default_factory=Selector)
    search: str | None = None
    toplevel: bool = False
    limit: int = 50
    after: tuple[str, str, str] | None = None  # (created, namespace, name) of the last row seen

    def matches(self, row: dict[str, Any], with_phase: bool = True) -> bool:
        """Whether a summary passes every filter (the phase one only if `with_phase`)."""
        if self.namespace is not None and row["namespace"] != self.namespace:
            return False
        if with_phase and self.phases and row["phase"] not in self.phases:
            return False
        if self.function and self.function not in (row["function"], row["pipeline"]):
            return False
        if self.toplevel and row["parent"]:
            return False
        if self.search:
            needle = self.search.lower()
            if (
                needle not in row["name"].lower()
                and needle not in (row["displayName"] or "").lower()
            ):
                return False
        return not self.selector.requirements or self.selector.matches(row["labels"])


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows, how many matched, counts by phase, the next cursor."""

    items: list[dict[str, Any]]
    total: int
    phases: dict[str, int]
    next: str | None


def encode_cursor(key: tuple[str, str, str]) -> str:
    """An opaque `continue` token for the row with sort key `key`."""
    return base64.urlsafe_b64encode("\x1f".join(key).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, str, str]:
    """The sort key inside a `continue` token. Raises ValueError for a token not made here."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except Exception as exc:
        raise ValueError("the continue token is not one this server made") from exc
    parts = raw.split("\x1f")
    if len(parts) != 3:
        raise ValueError("the continue token is not one this server made")
    return parts[0], parts[1], parts[2]


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["created"] or _EPOCH.isoformat(), row["namespace"], row["name"])


class ExecutionIndex:
    """Summaries of every Execution, sorted newest first, updated by watch events.

    Memory is a few hundred bytes per Execution (no arguments, results or journals). The
    sort order is rebuilt only when Executions appear or go, not when they change.
    """

    def __init__(self, store: Store, namespace: str | None = None) -> None:
        self.store = store
        self.namespace = namespace
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions: dict[tuple[str, str], int] = {}
        self._order: list[tuple[str, str, str]] | None = None  # ascending; read backwards
        self.listeners: list[Callable[[list[dict[str, Any]]], None]] = []

    def load(self, executions: Iterable[Execution] | None = None) -> None:
        """Read every Execution once (at start, and when the watch lost track)."""
        rows = {}
        versions = {}
        if executions is None:
            executions = self.store.list(Execution, self.namespace)
        for ex in executions:
            row = summary(ex)
            key = (row["namespace"], row["name"])
            rows[key] = row
            versions[key] = int(ex.metadata.resource_version or 0)
        with self._lock:
            self._rows, self._versions, self._order = rows, versions, None

    def apply(
        self,
        events: Iterable[WatchEvent],
        relisted: bool = False,
        executions: Iterable[Execution] | None = None,
    ) -> None:
        """Apply the informer's changes (a relist re-reads everything) and tell listeners."""
        if relisted:
            self.load(executions)
        changes: list[dict[str, Any]] = []
        with self._lock:
            for ev in events:
                if ev.kind in ("Suspension", "Function", "ScheduledExecution"):
                    changes.append(_other(ev))
                if ev.kind != Execution.KIND:
                    continue
                if self.namespace is not None and ev.namespace != self.namespace:
                    continue
                key = (ev.namespace, ev.name)
                version = int(ev.resource_version)
                if version <= self._versions.get(key, -1):
                    continue  # the index was loaded after this change
                self._versions[key] = version
                if ev.type == "DELETED":
                    if self._rows.pop(key, None) is not None:
                        self._order = None
                    changes.append({"type": "DELETED", "kind": ev.kind, **_where(ev)})
                    continue
                row = summary(Execution.model_validate(ev.object))
                if key not in self._rows:
                    self._order = None
                self._rows[key] = row
                changes.append({"type": ev.type, "kind": ev.kind, **_where(ev), "execution": row})
        if relisted:
            changes.append({"type": "RELIST", "kind": Execution.KIND})
        if changes:
            for listener in self.listeners:
                listener(changes)

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> list[dict[str, Any]]:
        """Every summary (a snapshot), in no particular order."""
        with self._lock:
            return list(self._rows.values())

    def query(self, q: Query) -> Page:
        """Filter, sort newest first and cut one page."""
        with self._lock:
            if self._order is None:
                self._order = sorted(_key(r) for r in self._rows.values())
            order = self._order
            rows = self._rows
            start = len(order)
            if q.after is not None:
                start = bisect.bisect_left(order, q.after)
            items: list[dict[str, Any]] = []
            total = 0
            phases: dict[str, int] = {}
            more = False
            for i in range(len(order) - 1, -1, -1):
                row = rows[(order[i][1], order[i][2])]
                if not q.matches(row, with_phase=False):
                    continue
                phases[row["phase"]] = phases.get(row["phase"], 0) + 1
                if q.phases and row["phase"] not in q.phases:
                    continue
                total += 1
                if i < start:
                    if len(items) < q.limit:
                        items.append(row)
                    else:
                        more = True
        cursor = encode_cursor(_key(items[-1])) if more and items else None
        return Page(items, total, phases, cursor)


def _where(ev: WatchEvent) -> dict[str, Any]:
    return {"namespace": ev.namespace, "name": ev.name}


def _other(ev: WatchEvent) -> dict[str, Any]:
    """A change of a Suspension, Function or ScheduledExecution, as the event stream tells it."""
    obj = ev.object
    labels = (obj.get("metadata") or {}).get("labels") or {}
    out: dict[str, Any] = {"type": ev.type, "kind": ev.kind, **_where(ev)}
    if ev.kind == "Suspension":
        out["owner"] = (obj.get("spec") or {}).get("execution")
        out["root"] = labels.get(ROOT_LABEL)
    return out
