"""Importing the user's code from a file path, once per process, so its functions register."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["import_file"]


def import_file(path: Path) -> ModuleType:
    """Import the Python file at `path` (again only if it was not imported yet).

    The file's folder goes on `sys.path`, so it can import its neighbours.

    Raises:
        FileNotFoundError: there is no such file.
        ImportError: it is not something Python can import.
        Exception: whatever running the module raised (it is then forgotten again).
    """
    if not path.is_file():
        raise FileNotFoundError(f"file {path} does not exist")
    resolved = path.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    name = f"kontinue_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(resolved.parent) not in sys.path:
        sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
