"""Storage faults of the SQLite file, as one clear line each: what happened, to which file, and
the fix. Nothing is written by an operation that fails this way, so no state is lost."""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from kontinue.store._errors import StorageFaultError

__all__ = ["fault", "guarded", "guarded_iter", "read_only_filesystem"]

F = TypeVar("F", bound=Callable[..., Any])

_LOW_SPACE = 256 * 1024


def read_only_filesystem(path: Path) -> bool:
    """Whether `path` (or its directory) is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path if path.exists() else path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _disk_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < _LOW_SPACE
    except OSError:
        return False


def fault(exc: BaseException, path: Path) -> StorageFaultError | None:
    """The storage fault an sqlite3 error means, or None for the ones callers handle
    (busy, locked, constraint)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    detail = str(exc)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CONSTRAINT):
        return None
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _disk_full(path)):
        return StorageFaultError(
            f"no space left on device for {path}: the change was not written and nothing is "
            "lost; free some space, then run the command again (`kontinue resume NAME` carries "
            "an interrupted Execution on)",
            "full",
        )
    if code == sqlite3.SQLITE_READONLY or (
        code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR) and read_only_filesystem(path)
    ):
        return StorageFaultError(
            f"{path} is read-only ({detail}): this command writes; make the file and its "
            "directory writable, or use a read-only command (list, get, tree, logs)",
            "read-only",
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StorageFaultError(
            f"{path} is corrupted ({detail}): restore it from a backup or run `kontinue doctor`",
            "corrupted",
        )
    if code == sqlite3.SQLITE_CANTOPEN:
        return StorageFaultError(
            f"cannot open {path} ({detail}): check that its directory exists and that you may "
            "read and write it",
            "cannot-open",
        )
    if code == sqlite3.SQLITE_IOERR:
        return StorageFaultError(
            f"disk I/O error on {path} ({detail}): check the disk, then run the command again; "
            "`kontinue doctor` checks the file",
            "io",
        )
    return None


def guarded(method: F) -> F:
    """Turn the storage faults a store method meets into StorageFaultError."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            translated = fault(exc, self.path)
            if translated is None:
                raise
            raise translated from exc

    return wrapper  # type: ignore[return-value]


def guarded_iter(method: F) -> F:
    """`guarded` for a method that returns an iterator: the call itself runs at once (a watch
    fixes its start version when it is called), its iteration is guarded too."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            iterator = method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise fault(exc, self.path) or exc from exc
        return _iterate(iterator, self.path)

    return wrapper  # type: ignore[return-value]


def _iterate(iterator: Iterator[Any], path: Path) -> Iterator[Any]:
    try:
        yield from iterator
    except sqlite3.Error as exc:
        translated = fault(exc, path)
        if translated is None:
            raise
        raise translated from exc
