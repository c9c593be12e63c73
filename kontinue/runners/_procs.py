"""Process identity and termination, atomic JSON files and file locks for the local runners."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kontinue.api._files import atomic_write_json

__all__ = [
    "ProcessId",
    "atomic_write_json",
    "group_alive",
    "locked",
    "read_json",
    "terminate_groups",
]

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """Return (state, process group, start time) from /proc/<pid>/stat, or None if gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses; fields resume after the
    # last ')'. There, index 0 is field 3 (state), index 2 field 5 (pgrp), index 19 field 22.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def _has_proc() -> bool:
    return (_PROC / "self" / "stat").exists()


@dataclass(frozen=True)
class ProcessId:
    """A process named by its pid *and* start time, so a reused pid is not mistaken for it.

    Attributes:
        pid: The process id (for a group leader, also the process group id).
        start_time: Field 22 of /proc/<pid>/stat (clock ticks after boot), None without /proc.
    """

    pid: int
    start_time: int | None

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """Identify the running process `pid`."""
        stat = _stat(pid)
        return cls(pid, stat[2] if stat else None)

    def alive(self) -> bool:
        """True if this very process still runs; a zombie (exited, not reaped) is not alive."""
        if not _has_proc():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        stat = _stat(self.pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return self.start_time is None or stat[2] == self.start_time

    def to_json(self) -> dict[str, Any]:
        """Return `{"pid": ..., "startTime": ...}`."""
        return {"pid": self.pid, "startTime": self.start_time}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessId:
        """Rebuild from `to_json()` output."""
        return cls(int(data["pid"]), data.get("startTime"))


def group_alive(group: ProcessId) -> bool:
    """True if any live (non-zombie) process is in the process group led by `group`."""
    if not _has_proc():
        try:
            os.killpg(group.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    leader = _stat(group.pid)
    if leader is not None and group.start_time is not None and leader[2] != group.start_time:
        return False  # the pid was reused: our group is long gone
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and stat[1] == group.pid and stat[0] not in ("Z", "X"):
                return True
    return False


def _signal_group(group: ProcessId, sig: int) -> None:
    leader = _stat(group.pid)
    if leader is not None and group.start_time is not None and leader[2] != group.start_time:
        return  # pid reused by an unrelated process: never signal it
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group.pid, sig)


def terminate_groups(groups: Iterable[ProcessId], grace: float, poll: float = 0.05) -> None:
    """Send SIGTERM to each process group, wait up to `grace` seconds, then SIGKILL the rest.

    Args:
        groups: Leaders of the process groups (each started in a new session).
        grace: Seconds the processes get to exit after SIGTERM.
        poll: Seconds between checks while waiting.
    """
    pending = [g for g in groups if group_alive(g)]
    for group in pending:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        time.sleep(poll)
        pending = [g for g in pending if group_alive(g)]
    for group in pending:
        _signal_group(group, signal.SIGKILL)


def read_json(path: Path) -> Any:
    """Return the JSON in `path`, or None if the file does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) for the `with` block.

    The kernel drops the lock when its holder dies, so a SIGKILLed process never leaves
    it held.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
