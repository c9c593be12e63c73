"""Loading the user's code: `--import MODULE` or `--import path/to/file.py`."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from kontinue.cli._errors import UsageError
from kontinue.runtime import REGISTRY, import_file

__all__ = ["import_user_code"]


def import_user_code(targets: list[str], base: Path | None = None, cwd: Path | None = None) -> None:
    """Import modules and files so their `@kontinue.function`s register.

    Each function they register remembers where it came from (published on its Function
    resource by in-process commands), so later commands can import it again by themselves.
    `cwd` is where a module is looked up (default: the working directory).

    Raises:
        UsageError: a module or file cannot be found or fails to import; the message gives
            the file, line and the error.
    """
    from kontinue.cli._sources import record_import

    for target in targets:
        before = set(REGISTRY.names())
        if target.endswith(".py") or "/" in target or (base and (base / target).exists()):
            path = Path(target) if base is None else base / target
            _import_file(path, target)
            record_import(target, path, before)
        else:
            _import_module(target, cwd or Path.cwd())
            record_import(target, None, before)


def _import_module(name: str, cwd: Path) -> None:
    here = cwd == Path.cwd() and "" in sys.path
    if not here and str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or (exc.name and name.startswith(exc.name)):
            raise UsageError(
                f"cannot import module {name!r}: no such module on the path; pass a file "
                "with --import path/to/file.py, or run from the directory that holds it"
            ) from None
        raise UsageError(_describe(name, exc)) from None
    except Exception as exc:
        raise UsageError(_describe(name, exc)) from None


def _import_file(path: Path, shown: str) -> None:
    try:
        import_file(path)
    except FileNotFoundError:
        raise UsageError(f"cannot import {shown}: file {path} does not exist") from None
    except Exception as exc:
        raise UsageError(_describe(shown, exc)) from None


def _describe(target: str, exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"cannot import {target}: {exc.filename}:{exc.lineno}:{exc.offset or 0}: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if "importlib" not in f.filename]
    where = f"{user[-1].filename}:{user[-1].lineno}: " if user else ""
    return f"cannot import {target}: {where}{type(exc).__name__}: {exc}"
