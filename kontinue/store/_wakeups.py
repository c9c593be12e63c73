"""Wake-ups across processes that share one SQLite file: a datagram after each commit.

SQLite tells a connection nothing about another process's commit, so a watcher in another
process would have to poll. Instead, every process that watches binds a Unix datagram
socket and leaves a marker file naming it in `<file>-wake/`; a process that commits a
change sends one empty datagram to each marker's socket (non-blocking: a full queue means
that watcher has a wake-up pending anyway). The watcher's thread blocks in `recv` and costs
nothing while nothing happens.

Why this and not inotify on the WAL: inotify fires on every write to the file, journal
rows and checkpoints included, needs a Linux-only binding, and says nothing about which
commits are changes. A datagram is sent only for commits that watchers care about, works
wherever Unix sockets do, and takes ~10 µs. The socket names live in Linux's abstract
namespace (no path length limit, nothing left on disk when a process dies); elsewhere a
socket file next to the marker is used when its path is short enough, and the store falls
back to polling when neither is possible. Stale markers (their process died) are removed
by the first sender that is refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Wakeups"]

_ABSTRACT = sys.platform.startswith("linux")
_MAX_PATH = 100  # sun_path holds 104-108 bytes depending on the OS
_FRESH_NS = 200_000_000  # a directory changed this recently may change again in the same tick


class Wakeups:
    """Sends and receives the wake-ups of the processes sharing one store file."""

    def __init__(self, db_path: Path, on_wake: Callable[[], None]) -> None:
        self.dir = db_path.with_name(db_path.name + "-wake")
        self.enabled = hasattr(socket, "AF_UNIX")
        self._on_wake = on_wake
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._own: str | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._out: socket.socket | None = None
        self._peers: dict[str, str | bytes] = {}
        self._scanned: int | None = None  # the directory's mtime when it was last read

    # -- receiving ------------------------------------------------------------------------

    def listen(self) -> bool:
        """Start receiving wake-ups (once); False where they cannot be received."""
        if self._thread is not None or not self.enabled:
            return self.enabled
        with self._lock:
            if self._thread is not None or self._closing:
                return self.enabled
            token = secrets.token_hex(8)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                self.dir.mkdir(mode=0o700, exist_ok=True)
                sock.bind(self._address(token))
                marker = self.dir / token
                marker.touch(mode=0o600)
            except OSError:
                sock.close()
                self.enabled = False  # e.g. a read-only state directory: poll instead
                return False
            self._sock, self._own = sock, token
            self._thread = threading.Thread(
                target=self._receive, name="kontinue-wakeups", daemon=True
            )
            self._thread.start()
            return True

    def _receive(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                sock.recv(16)
                # drain what else queued meanwhile: one wake-up for all of them
                while True:
                    sock.recv(16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass
            except OSError:
                return
            if self._closing:
                return
            self._on_wake()

    def _address(self, token: str) -> str | bytes:
        if _ABSTRACT:
            return f"\0kontinue-wake-{token}".encode()
        path = str(self.dir / f"{token}.sock")
        if len(path.encode()) > _MAX_PATH:
            raise OSError("socket path too long")
        return path

    # -- sending --------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every other process watching this store (after a commit)."""
        if not self.enabled:
            return
        try:
            peers = self._current_peers()
        except OSError:
            return  # no directory yet: nobody listens
        if not peers:
            return
        if self._out is None:
            self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        for token, address in list(peers.items()):
            try:
                self._out.sendto(b"", socket.MSG_DONTWAIT, address)
            except BlockingIOError:
                pass  # its queue is full: it has wake-ups pending already
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(token)  # its process is gone
            except OSError:
                pass

    def _current_peers(self) -> dict[str, str | bytes]:
        mtime = os.stat(self.dir).st_mtime_ns
        if mtime != self._scanned or time.time_ns() - mtime < _FRESH_NS:
            peers: dict[str, str | bytes] = {}
            for entry in os.scandir(self.dir):
                token = entry.name
                if token.endswith(".sock") or token == self._own:
                    continue
                with contextlib.suppress(OSError):
                    peers[token] = self._address(token)
            self._peers, self._scanned = peers, mtime
        return self._peers

    def _forget(self, token: str) -> None:
        self._peers.pop(token, None)
        for stale in (self.dir / token, self.dir / f"{token}.sock"):
            with contextlib.suppress(OSError):
                stale.unlink()

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop receiving and remove this process's marker."""
        with self._lock:
            self._closing = True
            sock, token, thread = self._sock, self._own, self._thread
            self._sock = None
        if self._out is not None:
            self._out.close()
            self._out = None
        if sock is None or token is None:
            return
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"", self._address(token))  # unblock the receiving thread
        if thread is not None:
            thread.join(timeout=1.0)
        sock.close()
        self._forget(token)
