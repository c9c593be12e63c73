"""The change feed of the Kubernetes store: one long-lived watch per kind, shared in-process.

Kubernetes watches one resource type per stream, and resourceVersions are ordered within a
stream only: an event of one kind may arrive after a newer event of another. The feed keeps
the events in arrival order and hands out positions instead of trusting the order of the
numbers:

- a version the feed handed out with an event resumes right after that event, and keeps the
  floor of the watch it came from (the version a caller listed at);
- any other version (`current_version()`, a list's) is a floor: every event above it is
  delivered, in arrival order.

Per object, events are delivered in order and always up to the newest, so a cache applying
them converges. A stream that gets `410 Gone` (its version was compacted, or fell out of the
API server's watch cache) restarts from the current version and marks a gap; a caller whose
position lies before a gap gets `GoneError` and lists again, as a client-go informer does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kontinue.store._errors import GoneError, StoreError
from kontinue.store._protocol import WatchEvent

__all__ = ["Feed"]

log = logging.getLogger("kontinue.store.kubernetes")

KEPT_EVENTS = 4096
SETTLE_SECONDS = 0.02  # wait this long for older changes of other kinds to arrive
READY_SECONDS = 0.15  # a new stream is trusted after this long without an ERROR event
WATCH_SECONDS = 240  # the server ends a watch after this; the stream resumes where it was


_Filter = tuple[tuple[str, ...], str]


def _filter(kinds: tuple[str, ...] | None, namespace: str | None) -> _Filter:
    return (tuple(kinds or ()), namespace or "")


class _Expired(Exception):
    """The stream's version is no longer served (410)."""


@dataclass(frozen=True)
class _Event:
    idx: int
    rv: int
    type: str
    kind: str
    namespace: str
    name: str
    obj: dict[str, Any]


class Feed:
    """Watches every kind of one scope (a namespace, or all) from a starting version.

    Args:
        open_stream: `(kind, version) -> urllib3 response` of a watch from `version`.
        current: `() -> int`, the newest version (to restart a stream after 410).
        kinds: the kinds to watch.
        start: the version the streams start from.
    """

    def __init__(
        self,
        open_stream: Callable[[str, int], Any],
        current: Callable[[], int],
        kinds: tuple[str, ...],
        start: int,
    ) -> None:
        self._open = open_stream
        self._current = current
        self.kinds = kinds
        self.start = start
        self._cond = threading.Condition()
        self._events: deque[_Event] = deque()
        self._next = 0  # arrival index of the next event
        # handed-out rv -> {(kinds, namespace) of the watch: (index to resume after, floor)}
        self._tokens: dict[int, dict[_Filter, tuple[int, int]]] = {}
        self._covered = dict.fromkeys(kinds, start)  # per kind: gapless since this version
        self._gaps: list[int] = []
        self._trimmed_rv = 0
        self._error: StoreError | None = None
        self._stopped = False
        self._responses: dict[str, Any] = {}
        self._ready: dict[str, threading.Event] = {k: threading.Event() for k in kinds}
        self._threads = [
            threading.Thread(
                target=self._stream, args=(kind,), daemon=True, name=f"kontinue-watch-{kind}"
            )
            for kind in kinds
        ]
        for thread in self._threads:
            thread.start()

    # -- streams ------------------------------------------------------------------------------

    def _stream(self, kind: str) -> None:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.watch.watch import iter_resp_lines

        version = self.start
        backoff = 0.1
        while not self._stopped:
            try:
                response = self._open(kind, version)
                self._responses[kind] = response
                # a version too old is answered at once with an ERROR event: wait for it a
                # moment before calling the stream ready
                ready = self._ready[kind]
                timer = threading.Timer(READY_SECONDS, ready.set)
                timer.daemon = True
                timer.start()
                try:
                    for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                        if not line:
                            continue
                        version = self._receive(kind, json.loads(line), version)
                        ready.set()
                        backoff = 0.1
                finally:
                    self._responses.pop(kind, None)
                    response.release_conn()
            except _Expired:
                version = self._restart(kind)
                self._ready[kind].set()
            except ApiException as exc:
                if exc.status == 410:
                    version = self._restart(kind)
                    self._ready[kind].set()
                elif exc.status in (401, 403, 404):
                    self._fail(kind, exc)
                    self._ready[kind].set()
                    return
                else:
                    backoff = self._pause(kind, exc, backoff)
            except Exception as exc:  # connection refused or reset, server restart
                if self._stopped:
                    return
                backoff = self._pause(kind, exc, backoff)

    def _receive(self, kind: str, event: dict[str, Any], version: int) -> int:
        type_ = event.get("type")
        obj = event.get("object") or {}
        if type_ == "ERROR":
            if obj.get("code") == 410:
                raise _Expired
            raise RuntimeError(f"watch of {kind} failed: {obj.get('message', obj)}")
        rv = int(obj.get("metadata", {}).get("resourceVersion") or version)
        if type_ in ("ADDED", "MODIFIED", "DELETED"):
            self._add(kind, type_, obj, rv)
        return max(rv, version)  # BOOKMARK only moves the position

    def _pause(self, kind: str, exc: BaseException, backoff: float) -> float:
        log.warning("watch of %s interrupted (%s); resuming in %.1fs", kind, exc, backoff)
        time.sleep(backoff)
        return min(backoff * 2, 5.0)

    def _restart(self, kind: str) -> int:
        """The stream missed changes: restart it from now and mark the gap."""
        while not self._stopped:
            try:
                version = self._current()
                break
            except Exception as exc:
                self._pause(kind, exc, 1.0)
        else:
            return 0
        with self._cond:
            self._gaps.append(self._next)
            self._covered[kind] = version
            self._cond.notify_all()
        log.info("watch of %s expired; restarted at version %d", kind, version)
        return version

    def _fail(self, kind: str, exc: Any) -> None:
        reason = getattr(exc, "reason", exc)
        with self._cond:
            self._error = StoreError(
                f"cannot watch {kind} resources: {exc.status} {reason}; check that the kontinue "
                "CRDs are installed and that your account may list and watch them "
                "(in this namespace, or in all with a cluster-wide role)"
            )
            self._cond.notify_all()

    def _add(self, kind: str, type_: str, obj: dict[str, Any], rv: int) -> None:
        meta = obj.setdefault("metadata", {})
        for key, empty in (("labels", {}), ("annotations", {}), ("ownerReferences", [])):
            meta.setdefault(key, empty)
        with self._cond:
            self._events.append(
                _Event(
                    self._next,
                    rv,
                    type_,
                    kind,
                    meta.get("namespace", ""),
                    meta.get("name", ""),
                    obj,
                )
            )
            self._next += 1
            while len(self._events) > KEPT_EVENTS:
                old = self._events.popleft()
                self._tokens.pop(old.rv, None)
                self._trimmed_rv = max(self._trimmed_rv, old.rv)
            self._cond.notify_all()

    def wait_ready(self, timeout: float = 5.0) -> None:
        """Wait until every stream has answered (or failed), so that a watch from a version
        the server no longer serves is Gone at once rather than after the first wait."""
        deadline = time.monotonic() + timeout
        for event in self._ready.values():
            event.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop every stream."""
        self._stopped = True
        for response in list(self._responses.values()):
            try:
                response.shutdown()
            except Exception:
                try:
                    response.close()
                except Exception:
                    pass
        with self._cond:
            self._cond.notify_all()

    # -- readers ------------------------------------------------------------------------------

    def _base(self) -> int:
        return self._events[0].idx if self._events else self._next

    def serves(self, since: int, kinds: tuple[str, ...] | None, namespace: str | None) -> bool:
        """Whether a watch from `since` can be served here (a version handed out by this
        feed, or one no older than what it covers)."""
        with self._cond:
            if self._error is not None or _filter(kinds, namespace) in self._tokens.get(since, {}):
                return True
            return not (since < self._trimmed_rv or any(since < v for v in self._covered.values()))

    def _position(
        self, since: int, kinds: tuple[str, ...] | None, namespace: str | None
    ) -> tuple[int, int]:
        """(first arrival index to look at, floor) for a watch from `since`; under the lock."""
        if self._error is not None:
            raise self._error
        token = self._tokens.get(since, {}).get(_filter(kinds, namespace))
        if token is not None:
            index, floor = token
            if any(gap > index for gap in self._gaps):
                raise GoneError(
                    f"changes after version {since} were missed by a watch that expired; "
                    "list again and watch from the version the list returned"
                )
            return index + 1, floor
        if since < self._trimmed_rv or any(since < v for v in self._covered.values()):
            raise GoneError(
                f"changes since version {since} are no longer kept here; list again and "
                "watch from the version the list returned"
            )
        return self._base(), since

    def watch(
        self,
        since: int,
        kinds: tuple[str, ...] | None,
        namespace: str | None,
        deadline: float,
        batch: int = 1000,
    ) -> Iterator[WatchEvent]:
        """Events after `since`, as described in the module docstring."""
        with self._cond:
            start, floor = self._position(since, kinds, namespace)
            gaps_seen = len(self._gaps)
        return self._iterate(start, floor, kinds, namespace, deadline, batch, gaps_seen, since)

    def _iterate(
        self,
        index: int,
        floor: int,
        kinds: tuple[str, ...] | None,
        namespace: str | None,
        deadline: float,
        batch: int,
        gaps_seen: int,
        since: int,
    ) -> Iterator[WatchEvent]:
        settled = False
        while True:
            with self._cond:
                if self._error is not None:
                    raise self._error
                if len(self._gaps) > gaps_seen:
                    raise GoneError(
                        f"a watch expired after version {since}; list again and watch from "
                        "the version the list returned"
                    )
                if index < self._base():
                    raise GoneError(
                        f"changes since version {since} are no longer kept here; list again"
                    )
                picked: list[_Event] = []
                scanned = index
                for i in range(index - self._base(), len(self._events)):
                    ev = self._events[i]
                    scanned = ev.idx + 1
                    if ev.rv <= floor:
                        continue
                    if kinds and ev.kind not in kinds:
                        continue
                    if namespace and ev.namespace != namespace:
                        continue
                    picked.append(ev)
                    if len(picked) >= batch:
                        break
                if not picked:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._stopped:
                        return
                    self._cond.wait(remaining)
                    continue
                if not settled and (kinds is None or len(kinds) > 1) and len(picked) < batch:
                    # Streams of other kinds may hold an older change still on its way (a few
                    # ms): let them deliver it, so that one batch comes in version order.
                    settled = True
                    self._cond.wait(SETTLE_SECONDS)
                    continue
                picked.sort(key=lambda e: e.rv)
                key = _filter(kinds, namespace)
                for ev in picked:
                    known = self._tokens.setdefault(ev.rv, {})
                    if key not in known or known[key][1] > floor:
                        known[key] = (ev.idx, floor)
                # this watch resumes after its newest event by resuming after the whole batch
                self._tokens[picked[-1].rv][key] = (scanned - 1, floor)
                found = [
                    WatchEvent(
                        ev.type,  # type: ignore[arg-type]
                        ev.kind,
                        ev.namespace,
                        ev.name,
                        str(ev.rv),
                        ev.obj,
                    )
                    for ev in picked
                ]
            yield from found
            return
