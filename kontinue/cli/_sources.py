"""Where functions come from: `--import` records it, later in-process commands import again.

`kontinue execute fan --import fan.py` publishes the Function resource `fan` with
`spec.source.file` set to the file's absolute path. A later `kontinue resume` or `retry` in
another process finds the tree waiting on `fan`, reads that record and imports the file by
itself, or says clearly that the file moved or no longer registers the function.
"""

from __future__ import annotations

from pathlib import Path

from kontinue.api import (
    Function,
    FunctionSource,
)
from kontinue.cli._errors import UsageError
from kontinue.runtime import REGISTRY
from kontinue.store import AlreadyExistsError, ConflictError, NotFoundError, Store

__all__ = ["import_recorded", "publish_sources", "record_import"]


def record_import(target: str, file: Path | None, before: set[str]) -> None:
    """Note the source of every function that importing `target` registered."""
    if file is not None:
        source = FunctionSource(file=str(file.resolve()))
    else:
        source = FunctionSource(module=target, path=str(Path.cwd()))
    for name in set(REGISTRY.names()) - before:
        REGISTRY.set_source(name, source)


def publish_sources(store: Store, namespace: str) -> None:
    """Create or update the Function resources of the functions this process imported."""
    for fdef in REGISTRY.all():
        source = REGISTRY.source(fdef.name)
        if source is None:
            continue
        group = fdef.worker_group or "default"  # as a default-group worker publishes it
        try:
            current = store.get(Function, namespace, fdef.name)
        except NotFoundError:
            try:
                store.create(fdef.resource(namespace, group, source))
            except AlreadyExistsError:
                pass  # a worker published it at the same moment; its record wins
            continue
        if current.spec.source != source:
            current.spec.source = source
            try:
                store.update(current)
            except ConflictError:
                pass


def _describe(source: FunctionSource) -> str:
    return source.file or f"module {source.module} (from {source.path})"


def import_recorded(store: Store, namespace: str, names: set[str]) -> set[str]:
    """Import the recorded source of each function in `names` that is not registered here.

    Returns:
        The names still not registered (no Function resource, or one without a source).

    Raises:
        UsageError: a recorded file is gone, fails to import, or no longer registers the name.
    """
    from kontinue.cli._imports import import_user_code

    missing = {n for n in names if n not in REGISTRY}
    for name in sorted(missing):
        if name in REGISTRY:
            continue
        try:
            source = store.get(Function, namespace, name).spec.source
        except NotFoundError:
            continue
        if source is None:
            continue
        where = _describe(source)
        if source.file is not None:
            if not Path(source.file).is_file():
                raise UsageError(
                    f"function {name!r} was imported from {source.file}, which no longer "
                    "exists; pass --import with the file's new place"
                )
            import_user_code([source.file])
        elif source.module is not None:
            import_user_code([source.module], cwd=Path(source.path) if source.path else None)
        if name not in REGISTRY:
            raise UsageError(
                f"function {name!r} was imported from {where}, which no longer registers it "
                f"(registered now: {', '.join(REGISTRY.names())}); pass --import with the "
                "code that defines it"
            )
    return {n for n in missing if n not in REGISTRY}
