"""Clean-up: archive and delete finished root Executions when their TTL says so.

`spec.ttl.archiveAfter` packs the whole tree (Executions, Suspensions, journals and where
step logs are) into an ArchivedExecution and deletes the live objects; `deleteAfter`
deletes the Execution, or its archive, that long after it finished. Only root Executions
count, with one exception: a child Execution with its own `ttl.deleteAfter` (a pipeline step's
`ttl:`, or `defaults.ttl`) is deleted that long after it finished, once everything above it has
finished too (its parent may still need its result until then). The Execution's own TTL wins
over its function's.

Due times sit in a heap fed by the informer's changes, so a pass costs nothing for the
finished Executions whose time has not come.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
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
from kontinue.runtime._operations import PARENT_LABEL
from kontinue.runtime._tree import tree_executions, tree_suspensions
from kontinue.store import AlreadyExistsError, NotFoundError, Store

__all__ = [
    "TTL_LABEL",
    "CleanupReconciler",
    "archive_execution",
    "delete_execution",
    "job_names",
    "jobs_with_ttl",
]

log = logging.getLogger("kontinue.cleanup")

TTL_LABEL = "kontinue.cloud/ttl-seconds"
"""On a step's job: how long it is kept after it finished, counted once its root finished."""

_JOB_TTLS: dict[str, Callable[[Any], bool]] = {}


def jobs_with_ttl(function: str, wants: Callable[[Any], bool]) -> None:
    """Declare that Executions of `function` whose arguments satisfy `wants` may start jobs
    labelled with a TTL (`TTL_LABEL`): their tree's jobs are then removed as those fall due."""
    _JOB_TTLS[function] = wants


def _has_job_ttls(ex: Execution) -> bool:
    wants = _JOB_TTLS.get(ex.spec.function)
    try:
        return wants is not None and bool(wants(ex.spec.arguments))
    except Exception:
        return False


_Due = tuple[datetime, str, str, str, str]
"""(when, action, namespace, name, uid): action is "archive", "delete", "delete-archive" or
"delete-child" or "expire-jobs"."""


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
        if not isinstance(obj, Execution) or not obj.terminal:
            return
        finished = obj.status.finish_time
        key = (obj.metadata.namespace, obj.metadata.name, obj.metadata.uid or "")
        if not _is_root(obj):
            after = obj.spec.ttl.delete_after if obj.spec.ttl is not None else None
            if after is not None and finished is not None:
                heapq.heappush(self._heap, (finished + after, "delete-child", *key))
            return
        if finished is not None and _has_job_ttls(obj):
            heapq.heappush(self._heap, (finished, "expire-jobs", *key))
        ttl = self.ttl_of(obj)
        if ttl is None or finished is None:
            return
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

    def _expire_jobs(self, root: Execution, now: datetime) -> int:
        """Remove the jobs of a finished tree whose TTL (`TTL_LABEL`) passed; queue the rest.

        Only once the root finished: a running pipeline may still read a step's logs."""
        ns = root.metadata.namespace
        executions = tree_executions(self.store, root) or [root]
        due: datetime | None = None
        expired: list[tuple[str, str, str]] = []
        for ex in executions:
            for entry in self.store.read_journal(ns, ex.metadata.name):
                job = entry.get("job")
                if not isinstance(job, dict) or not job.get("name"):
                    continue
                seconds = (job.get("labels") or {}).get(TTL_LABEL)
                finished = job.get("finishedAt")
                if seconds is None or not finished:
                    continue
                when = datetime.fromisoformat(str(finished)) + timedelta(seconds=int(seconds))
                if when <= now:
                    expired.append(
                        (job.get("runner") or "local", job.get("namespace") or ns, job["name"])
                    )
                elif due is None or when < due:
                    due = when
        _remove_jobs(self.runners, expired)
        if due is not None:
            key = (ns, root.metadata.name, root.metadata.uid or "")
            heapq.heappush(self._heap, (due, "expire-jobs", *key))
        if expired:
            log.info("removed %d job(s) of %s past their ttl", len(expired), root.metadata.name)
        return len(expired)

    def _delete_child(self, child: Execution, now: datetime) -> int:
        """Delete a finished child whose TTL passed, once no Execution above it still runs."""
        current = child
        for _ in range(1000):
            parent = current.metadata.labels.get(PARENT_LABEL)
            if not parent:
                break
            try:
                current = self.store.get(Execution, child.metadata.namespace, parent)
            except NotFoundError:
                break
            if not current.terminal:  # its parent may still read it: look again later
                after = child.spec.ttl.delete_after if child.spec.ttl else None
                wait = min(max(after or timedelta(0), timedelta(seconds=1)), timedelta(minutes=1))
                key = (child.metadata.namespace, child.metadata.name, child.metadata.uid or "")
                heapq.heappush(self._heap, (now + wait, "delete-child", *key))
                return 0
        delete_execution(self.store, child.metadata.namespace, child.metadata.name, self.runners)
        log.info("deleted child Execution %s (ttl.deleteAfter)", child.metadata.name)
        return 1

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
        if action == "delete-child":
            return self._delete_child(root, now)
        if action == "expire-jobs":
            return self._expire_jobs(root, now)
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
