"""A watch of kontinue's `batch/v1` Jobs in one namespace: a cache the controller reads
instead of polling the API server for every Job an Execution waits on.

It lists the Jobs labelled `kontinue.cloud/execution` (any value) and then watches them from
the list's resourceVersion, as a client-go informer does: the server ends a watch after a
while and it resumes from the last version it saw; a `410 Gone` (the version was compacted)
or a broken connection lists again. Every change, and every relist, calls `on_change`.
A cache that cannot list at all (401/403/404: no right to list Jobs) says so in `broken`,
and its user goes back to polling.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kontinue.runners._manifest import job_record
from kontinue.runners._protocol import EXECUTION_LABEL
from kontinue.runners._types import JobRecord

__all__ = ["JobWatch"]

log = logging.getLogger("kontinue.runners.kubernetes")

WATCH_SECONDS = 240  # the server ends a watch after this; it resumes where it was
LIST_PAGE = 500


class _Expired(Exception):
    """The watch's version is no longer served (410): list again."""


class JobWatch:
    """The Jobs of one namespace that carry `kontinue.cloud/execution`, kept by list+watch.

    Args:
        api_client: the `kubernetes.client.ApiClient` to use.
        namespace: the namespace watched.
        on_change: called (on the watch's thread) after every change and every relist.
        watch_seconds: how long the server keeps one watch open before it resumes.
    """

    def __init__(
        self,
        api_client: Any,
        namespace: str,
        on_change: Callable[[], None],
        *,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        from kubernetes import client

        self.namespace = namespace
        self.watch_seconds = watch_seconds
        self._batch: Any = client.BatchV1Api(api_client)
        self._on_change = on_change
        self._jobs: dict[str, JobRecord] = {}
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._stopped = threading.Event()
        self._response: Any = None
        self.broken: str | None = None
        """Why the Jobs cannot be listed (no right to, say); None while the watch works."""
        self.relists = 0
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"kontinue-watch-jobs-{namespace}"
        )
        self._thread.start()

    # -- reading ----------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """True once the cache holds a complete list (and the watch is not broken)."""
        return self._synced.is_set() and self.broken is None

    def wait_synced(self, timeout: float) -> bool:
        self._synced.wait(timeout)
        return self.synced

    def get(self, name: str) -> JobRecord | None:
        """The cached record of Job `name` (its pods are not read), None if not seen."""
        with self._lock:
            return self._jobs.get(name)

    def close(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # already closed
                pass

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        backoff = 0.2
        while not self._stopped.is_set():
            try:
                version = self._list()
                backoff = 0.2
                while not self._stopped.is_set():
                    version = self._watch(version)
            except _Expired:
                continue  # list again
            except ApiException as exc:
                if exc.status in (401, 403, 404):
                    self.broken = f"{exc.status} {exc.reason}"
                    log.warning("cannot watch Jobs in %s: %s", self.namespace, self.broken)
                    self._synced.set()
                    return
                backoff = self._pause(exc, backoff)
            except Exception as exc:  # refused, reset, the API server restarting
                if self._stopped.is_set():
                    return
                backoff = self._pause(exc, backoff)

    def _pause(self, exc: BaseException, backoff: float) -> float:
        log.warning(
            "watch of Jobs in %s interrupted (%s); again in %.1fs", self.namespace, exc, backoff
        )
        self._stopped.wait(backoff)
        return min(backoff * 2, 5.0)

    def _list(self) -> str:
        jobs: dict[str, JobRecord] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "label_selector": EXECUTION_LABEL,
                "limit": LIST_PAGE,
                "_preload_content": False,
            }
            if token:
                kwargs["_continue"] = token
            page = json.loads(self._batch.list_namespaced_job(self.namespace, **kwargs).data)
            for job in page.get("items") or []:
                record = job_record(job, [])
                jobs[record.name] = record
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                version = str(meta.get("resourceVersion") or "")
                break
        with self._lock:
            self._jobs = jobs
        self.relists += 1
        self._synced.set()
        self._on_change()
        return version

    def _watch(self, version: str) -> str:
        """Follow changes from `version` until the server ends the watch; the last version."""
        from kubernetes.watch.watch import iter_resp_lines

        response = self._batch.list_namespaced_job(
            self.namespace,
            label_selector=EXECUTION_LABEL,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            _preload_content=False,
        )
        self._response = response
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopped.is_set():
                    break
                if line:
                    version = self._receive(json.loads(line), version)
        finally:
            self._response = None
            response.release_conn()
        return version

    def _receive(self, event: dict[str, Any], version: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise _Expired
            raise RuntimeError(f"watch of Jobs failed: {obj.get('message', obj)}")
        meta = obj.get("metadata") or {}
        version = str(meta.get("resourceVersion") or version)
        name = meta.get("name")
        if kind == "BOOKMARK" or not name:
            return version
        with self._lock:
            if kind == "DELETED":
                self._jobs.pop(name, None)
            else:
                self._jobs[name] = job_record(obj, [])
        self._on_change()
        return version
