"""Clean-up: archive and delete finished root Executions when their TTL says so.

`spec.ttl.archiveAfter` packs the whole tree (Executions, Suspensions, journals and where
step logs are) into an ArchivedExecution and deletes the live objects; `deleteAfter`
deletes the Execution, or its archive, that long after it finished. Only root Executions
count; children go with their root. The Execution's own TTL wins over its function's.

Due times sit in a heap fed by the informer's changes, so a pass costs nothing for the
finished Executions whose time has not come.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kontinue.api import (
    TERMINAL_PHASES,
    ArchivedExecution,
    ArchivedExecutionSpec,
    Execution,
    ExecutionTTL,
    JobEntry,
    ObjectMeta,
    pack_tree,
)
from kontinue.runtime._clock import Clock
from kontinue.runtime._informer import Informer
from kontinue.runtime._tree import tree_executions, tree_suspensions
from kontinue.store import AlreadyExistsError, NotFoundError, Store

__all__ = ["CleanupReconciler", "archive_execution", "delete_execution", "job_names"]

log = logging.getLogger("kontinue.cleanup")

_Due = tuple[datetime, str, str, str, str]
"""(when, action, namespace, name, uid): action is "archive", "delete" or "delete-archive"."""


def _is_root(ex: Execution) -> bool:
    return not any(ref.kind == "Execution" for ref in ex.metadata.owner_references)


def job_names(store: Store, executions: list[Execution]) -> list[tuple[str, str, str]]:
    """(runner, namespace, job) of every job the Executions recorded or wait on."""
    found: list[tuple[str, str, str]] = []
    for ex in executions:
        ns = ex.metadata.namespace
        for entry in store.read_entries(ns, ex.metadata.name):
            job = entry.job if isinstance(entry, JobEntry) else None
            if job is not None and job.get("name"):
                found.append(
                    (job.get("runner") or "local", job.get("namespace") or ns, job["name"])
                )
        waiting = ex.status.waiting_on
        if waiting is not None and waiting.kind == "job":
            found.extend((waiting.runner or "local", ns, n) for n in waiting.names)
    return list(dict.fromkeys(found))


def _remove_jobs(runners: dict[str, Any], jobs: list[tuple[str, str, str]]) -> None:
    for kind, ns, name in jobs:
        runner = runners.get(kind)
        if runner is None:
            continue
        try:
            runner.delete(name, ns)
        except Exception:  # a job already gone, or a runner that cannot reach it
            log.debug("could not remove job %s/%s", ns, name, exc_info=True)


def archive_execution(
    store: Store, root: Execution, now: datetime, *, delete_at: datetime | None = None
) -> ArchivedExecution:
    """Pack the tree of finished `root` into an ArchivedExecution, then delete the live tree.

    Idempotent: an archive made before a crash is kept and the live tree deleted.
    """
    executions = tree_executions(store, root)
    if not any(e.metadata.uid == root.metadata.uid for e in executions):
        executions = [root, *executions]
    suspensions = list(tree_suspensions(store, root).values())
    journals = {
        e.metadata.name: store.read_journal(e.metadata.namespace, e.metadata.name)
        for e in executions
    }
    tree = {
        "executions": [e.wire() for e in executions],
        "suspensions": [s.wire() for s in suspensions],
        "journals": journals,
        "jobs": [list(j) for j in job_names(store, executions)],
    }
    st = root.status
    archive = ArchivedExecution(
        metadata=ObjectMeta(
            name=root.metadata.name,
            namespace=root.metadata.namespace,
            labels=dict(root.metadata.labels),
            annotations=dict(root.metadata.annotations),
        ),
        spec=ArchivedExecutionSpec(
            function=root.spec.function,
            phase=st.phase,
            arguments=root.spec.arguments,
            result=st.result,
            message=st.message or (st.error.message if st.error else None),
            start_time=st.start_time,
            finish_time=st.finish_time,
            archive_time=now,
            delete_at=delete_at,
            executions=len(executions),
            suspensions=len(suspensions),
            steps=sum(len(j) for j in journals.values()),
            data=pack_tree(tree),
        ),
    )
    try:
        archive = store.create(archive)
    except AlreadyExistsError:
        archive = store.get(ArchivedExecution, root.metadata.namespace, root.metadata.name)
    try:
        store.delete(Execution, root.metadata.namespace, root.metadata.name)
    except NotFoundError:
        pass
    return archive


def delete_execution(
    store: Store, namespace: str, name: str, runners: dict[str, Any] | None = None
) -> int:
    """Delete an Execution with its tree and the local job directories of its steps.

    Returns how many Executions went.
    """
    root = store.get(Execution, namespace, name)
    executions = tree_executions(store, root)
    jobs = job_names(store, executions or [root])
    store.delete(Execution, namespace, name)
    _remove_jobs(runners or {}, jobs)
    return max(1, len(executions))


class CleanupReconciler:
    """Archives and deletes finished root Executions (and archives) as their TTL falls due."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        informer: Informer,
        ttl_of: Callable[[Execution], ExecutionTTL | None],
        runners: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.informer = informer
        self.ttl_of = ttl_of
        self.runners = runners or {}
        self._heap: list[_Due] = []
        self._archives_loaded = False
        informer.subscribe(self._noticed)

    def _noticed(self, obj: Any) -> None:
        """Called for every Execution the informer sees change: queue it if it has a TTL."""
        if not isinstance(obj, Execution) or not obj.terminal or not _is_root(obj):
            return
        ttl = self.ttl_of(obj)
        finished = obj.status.finish_time
        if ttl is None or finished is None:
            return
        key = (obj.metadata.namespace, obj.metadata.name, obj.metadata.uid or "")
        if ttl.archive_after is not None:
            heapq.heappush(self._heap, (finished + ttl.archive_after, "archive", *key))
        elif ttl.delete_after is not None:
            heapq.heappush(self._heap, (finished + ttl.delete_after, "delete", *key))

    def _load_archives(self) -> None:
        # The informer lists only unfinished Executions (finished ones leave its cache), so
        # the finished ones waiting for their TTL are read once here, streamed: only those
        # with a TTL stay, as heap entries.
        finished = self.store.iterate(
            Execution, self.informer.namespace, phases=sorted(TERMINAL_PHASES)
        )
        for ex in finished:
            self._noticed(ex)
        for archive in self.store.list(ArchivedExecution, self.informer.namespace):
            if archive.spec.delete_at is not None:
                heapq.heappush(
                    self._heap,
                    (
                        archive.spec.delete_at,
                        "delete-archive",
                        archive.metadata.namespace,
                        archive.metadata.name,
                        archive.metadata.uid or "",
                    ),
                )
        self._archives_loaded = True

    def due(self, now: datetime) -> bool:
        """Whether something falls due by `now` (or the finished ones were not read yet)."""
        return not self._archives_loaded or bool(self._heap and self._heap[0][0] <= now)

    def reconcile(self, now: datetime, timer: Callable[[datetime], None]) -> int:
        """Act on everything due by `now`; returns how many writes it made."""
        if not self._archives_loaded:
            self._load_archives()
        writes = 0
        while self._heap and self._heap[0][0] <= now:
            _, action, ns, name, uid = heapq.heappop(self._heap)
            try:
                writes += self._act(action, ns, name, uid, now)
            except NotFoundError:
                continue  # deleted by someone else meanwhile
        if self._heap:
            timer(self._heap[0][0])
        return writes

    def _act(self, action: str, ns: str, name: str, uid: str, now: datetime) -> int:
        if action == "delete-archive":
            archive = self.store.get(ArchivedExecution, ns, name)
            if archive.metadata.uid != uid:
                return 0
            jobs = archive.tree().get("jobs", [])
            self.store.delete(ArchivedExecution, ns, name)
            _remove_jobs(self.runners, [(j[0], j[1], j[2]) for j in jobs])
            log.info("deleted ArchivedExecution %s (ttl.deleteAfter)", name)
            return 1
        root = self.store.get(Execution, ns, name)
        if root.metadata.uid != uid or not root.terminal:
            return 0  # replaced by a new one of the same name, or retried meanwhile
        ttl = self.ttl_of(root)
        after = (
            None
            if ttl is None
            else (ttl.archive_after if action == "archive" else ttl.delete_after)
        )
        finished = root.status.finish_time
        if after is None or finished is None or finished + after > now:
            return 0  # it was retried and finished again later: a newer entry is queued
        if action == "delete":
            delete_execution(self.store, ns, name, self.runners)
            log.info("deleted Execution %s (ttl.deleteAfter)", name)
            return 1
        delete_at = None
        if ttl is not None and ttl.delete_after is not None and root.status.finish_time:
            delete_at = root.status.finish_time + ttl.delete_after
        archive = archive_execution(self.store, root, now, delete_at=delete_at)
        log.info("archived Execution %s (ttl.archiveAfter)", name)
        if delete_at is not None:
            heapq.heappush(
                self._heap, (delete_at, "delete-archive", ns, name, archive.metadata.uid or "")
            )
        return 2
