"""Jobs the controller waits on, seen through watches instead of polls.

A runner that can watch its jobs (the Kubernetes runner: a list+watch of `batch/v1` Jobs
per namespace) gets one watch per namespace the controller waits on a job in, started the
first time it does. The controller then reads a job's state from that cache (no request)
and does not look again on a timer: a change of any job wakes it (`changed`, and the
`on_change` callback). Only what the cache cannot answer goes to the API server: before the
first list, and a job the cache has not seen (just created by a worker and not yet on the
watch, or gone): a job is declared lost only after a read says so.

A runner without watches (the local and container runners: a job's state is a file its
supervisor rewrites) is polled as before, every `JOB_POLL` of real time; so is the
Kubernetes runner where its watch cannot work (no right to list Jobs).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from kontinue.runners import kube_name

if TYPE_CHECKING:
    from kontinue.runners import JobRecord

__all__ = ["JobWatches"]

SLICE_SECONDS = 0.05
"""While a job is watched, the controller's wait for store changes is cut in slices this
long, so that a job's change acts within it instead of at the end of the wait."""


class JobWatches:
    """One job watch per (runner, namespace), started on first use.

    Args:
        runners: the controller's runners by name.
    """

    def __init__(self, runners: dict[str, Any]) -> None:
        self.runners = runners
        self._watches: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.changed = threading.Event()
        """Set by every change of a watched job; the controller clears it when it looks."""

    def _changed(self) -> None:
        self.changed.set()

    def take(self) -> bool:
        """True (once) when a watched job changed since the last call."""
        if not self.changed.is_set():
            return False
        self.changed.clear()
        return True

    def _watch(self, runner: str, namespace: str) -> Any | None:
        start = getattr(self.runners.get(runner), "watch_jobs", None)
        if start is None:
            return None
        key = (runner, namespace)
        with self._lock:
            watch = self._watches.get(key)
            if watch is None:
                watch = self._watches[key] = start(namespace, self._changed)
        return None if watch.broken else watch

    def watched(self, runner: str | None, namespace: str) -> bool:
        """True when a change of this runner's jobs in `namespace` wakes the controller (so
        it needs no timer to look again)."""
        watch = self._watch(runner or "local", namespace)
        return watch is not None and watch.synced

    def poll(self, runner: str | None, name: str, namespace: str) -> JobRecord | None:
        """The job's record: from the watch when it has seen the job, else from the runner."""
        backend = self.runners[runner or "local"]
        watch = self._watch(runner or "local", namespace)
        if watch is not None and watch.synced:
            record: JobRecord | None = watch.get(kube_name(name))
            if record is not None:
                return record
        polled: JobRecord | None = backend.poll(name, namespace)
        return polled

    def active(self) -> bool:
        """True while some watch runs (the controller then waits in short slices)."""
        with self._lock:
            return any(not w.broken for w in self._watches.values())

    def wait(self, informer: Any, seconds: float, stop: threading.Event | None = None) -> None:
        """Wait up to `seconds` for store changes (through `informer`), returning early when
        a watched job changed."""
        if not self.active():
            informer.sync(timeout=seconds)
            return
        end = time.monotonic() + seconds
        while not self.changed.is_set() and (stop is None or not stop.is_set()):
            left = end - time.monotonic()
            if left <= 0:
                return
            if informer.sync(timeout=min(left, SLICE_SECONDS)):
                return

    def close(self) -> None:
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
        for watch in watches:
            watch.close()
