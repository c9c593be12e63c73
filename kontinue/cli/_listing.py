"""`kontinue list`, `get`, `delete` as kubectl has them: -o, -l, --phase, -A, --sort-by, -w."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from kontinue.cli._errors import UsageError
from kontinue.cli._flags import PHASES
from kontinue.cli._render import age, dump, print_table, progress_text, stream_list
from kontinue.store import NotFoundError, Store

if TYPE_CHECKING:
    from kontinue.api import Execution

T = TypeVar("T")

__all__ = ["delete", "get", "list_", "selected", "show_one"]

_SORT_ALIASES = {
    "name": ".metadata.name",
    "age": ".metadata.creationTimestamp",
    "created": ".metadata.creationTimestamp",
    "phase": ".status.phase",
    "function": ".spec.function",
    "namespace": ".metadata.namespace",
}


def _phases(text: str | None) -> set[str] | None:
    if not text:
        return None
    by_lower = {p.lower(): p for p in PHASES}
    out = set()
    for word in text.split(","):
        phase = by_lower.get(word.strip().lower())
        if phase is None:
            raise UsageError(
                f"--phase {word.strip()!r} is not a phase; use one of {', '.join(PHASES)}"
            )
        out.add(phase)
    return out


def _field(doc: Any, path: str) -> Any:
    for part in path.strip("{}").lstrip(".").split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _sorted(items: Iterable[T], args: argparse.Namespace, doc: Callable[[T], Any]) -> Iterable[T]:
    """`items` in the order of --sort-by (a field path of each one's document `doc(item)`)."""
    sort_by = getattr(args, "sort_by", None)
    if not sort_by:
        return items
    path = _SORT_ALIASES.get(sort_by, sort_by)
    if not path.lstrip("{").startswith("."):
        raise UsageError(
            f"--sort-by {sort_by!r}: use name, age, phase, function or a field path "
            "such as .metadata.creationTimestamp"
        )
    keyed = []
    for item in items:
        value = _field(doc(item), path)
        keyed.append(((value is None, str(value if value is not None else "")), item))
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def _query(store: Store, args: argparse.Namespace) -> Iterable[Execution]:
    """The Executions the filters pick: streamed, or a sorted list with --sort-by."""
    from kontinue.api import Execution

    namespace = None if getattr(args, "all_namespaces", False) else args.namespace
    phases = _phases(getattr(args, "phase", None))
    items = store.iterate(Execution, namespace, args.selector, phases=phases)
    return _sorted(items, args, lambda e: e.wire())


def _query_rows(store: Store, args: argparse.Namespace) -> Iterable[_Row]:
    """`_query` for a table: the stored documents, read without building models."""
    namespace = None if getattr(args, "all_namespaces", False) else args.namespace
    phases = _phases(getattr(args, "phase", None))
    docs = store.iterate_wire("Execution", namespace, args.selector, phases=phases)
    rows: Iterator[_Row] = (_Row(d) for d in docs)
    return _sorted(rows, args, lambda r: r.doc)


def _when(text: Any) -> datetime | None:
    if not text:
        return None
    ts = datetime.fromisoformat(str(text))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class _Row:
    """The columns of `kontinue list` read from an Execution's stored document.

    A table of many Executions needs a few fields of each: reading them from the document
    spares validating whole objects (and importing the models), so that `kontinue list`
    starts and prints fast. Fields at their default may be missing from a document (a
    Kubernetes object has no status before its first status write): the model's defaults
    are applied here.
    """

    __slots__ = ("doc", "meta", "spec", "status")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.meta: dict[str, Any] = doc.get("metadata") or {}
        self.spec: dict[str, Any] = doc.get("spec") or {}
        status = doc.get("status") or {}
        if "phase" not in status:
            status = {**status, "phase": "Pending"}
            doc["status"] = status
        self.status: dict[str, Any] = status

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def resource_version(self) -> str | None:
        rv = self.meta.get("resourceVersion")
        return None if rv is None else str(rv)

    def cells(self, wide: bool, namespaces: bool) -> list[str]:
        st = self.status
        phase = str(st["phase"])
        progress = st.get("progress")
        error = st.get("error")
        terminal = phase in ("Completed", "Failed", "Canceled", "Skipped")
        message = str((error.get("message") if error and terminal else st.get("message")) or "")
        row = [
            self.name,
            str(self.spec.get("function", "")),
            phase,
            f"{progress['current']}/{progress['max']}" if progress else "-",
            age(_when(self.meta.get("creationTimestamp"))),
        ]
        if wide:
            start, finish = _when(st.get("startTime")), _when(st.get("finishTime"))
            labels = self.meta.get("labels") or {}
            row += [
                "-" if start is None else age(start, finish) if finish else age(start),
                str(int(st.get("attempts") or 0) + 1),
                str(labels.get("kontinue.cloud/parent", "-")),
                message,
            ]
        else:
            row.append(message[:60])
        return ([str(self.meta.get("namespace", "default"))] if namespaces else []) + row


def selected(store: Store, args: argparse.Namespace) -> list[Execution]:
    """The Executions that the filters of `list`/`delete -l` pick, sorted as asked."""
    return list(_query(store, args))


def _header(wide: bool, namespaces: bool) -> list[str]:
    head = ["NAME", "FUNCTION", "PHASE", "PROGRESS", "AGE"]
    head += ["DURATION", "ATTEMPT", "PARENT", "MESSAGE"] if wide else ["MESSAGE"]
    return (["NAMESPACE"] if namespaces else []) + head


def _print(items: list[Execution], args: argparse.Namespace, header: bool = True) -> None:
    if args.output == "name":
        for e in items:
            sys.stdout.write(f"execution.kontinue.cloud/{e.metadata.name}\n")
        return
    wide, namespaces = args.output == "wide", bool(getattr(args, "all_namespaces", False))
    rows = [_Row(e.wire()).cells(wide, namespaces) for e in items]
    print_table(rows, _header(wide, namespaces), show_header=header)


def _dump_list(items: list[Execution], fmt: str) -> None:
    stream_list(items, fmt)


def list_(args: argparse.Namespace) -> int:
    """`kontinue list`: a table (or a document) of the Executions the filters pick."""
    from kontinue.cli._stores import open_cli_store

    store = open_cli_store(args)
    if args.archived:
        from kontinue.cli._schedules import archived_list

        return archived_list(store, args)
    if args.output in ("json", "yaml") and not args.watch:
        stream_list(_query(store, args), args.output)  # one Execution in memory at a time
        return 0
    seen: dict[str, str | None] = {}
    wide, namespaces = args.output == "wide", bool(args.all_namespaces)
    rows = []  # a table needs every row for its widths, but only the rows
    for r in _query_rows(store, args):
        seen[r.name] = r.resource_version
        if args.output == "name":
            sys.stdout.write(f"execution.kontinue.cloud/{r.name}\n")
        else:
            rows.append(r.cells(wide, namespaces))
    if not seen and not args.watch:
        where = "any namespace" if args.all_namespaces else f"namespace {args.namespace}"
        sys.stderr.write(f"No Executions found in {where}.\n")
        return 0
    if args.output != "name":
        print_table(rows, _header(wide, namespaces))
    if args.watch:
        _watch(store, args, seen)
    return 0


def _watch(store: Store, args: argparse.Namespace, seen: dict[str, str | None]) -> None:
    """Print each Execution that changes and still matches, one line (or doc) per change."""
    sys.stdout.flush()
    try:
        while True:
            for e in selected(store, args):
                if seen.get(e.metadata.name) != e.metadata.resource_version:
                    seen[e.metadata.name] = e.metadata.resource_version
                    if args.output in ("json", "yaml"):
                        sys.stdout.write(dump(e.wire(), args.output) + "\n")
                    else:
                        _print([e], args, header=False)
                    sys.stdout.flush()
            for _ in store.watch(namespace=None, timeout=1.0):
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        return


def _strip_kind(name: str) -> str:
    for prefix in ("execution/", "executions/", "execution.kontinue.cloud/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def get(args: argparse.Namespace) -> int:
    """`kontinue get NAME...`: the Executions named (one table, or their documents).

    Without a name it lists them, filters included, as `kubectl get executions` does;
    names and filters together are refused, as kubectl refuses them.
    """
    from kontinue.api import Execution
    from kontinue.cli._stores import open_cli_store

    if not args.names:
        args.archived = False
        return list_(args)
    if args.selector or args.phase or args.all_namespaces or args.sort_by:
        raise UsageError(
            "give Execution names, or filters (-l, --phase, -A, --sort-by) without names, not both"
        )
    store = open_cli_store(args)
    names = [_strip_kind(n) for n in args.names]
    if len(names) == 1 and args.output in (None, "json", "yaml") and not args.watch:
        return show_one(store, args, names[0])
    items = [store.get(Execution, args.namespace, n) for n in names]
    if args.output in ("json", "yaml") and not args.watch:
        _dump_list(items, args.output)
        return 0
    _print(items, args)
    if args.watch:
        seen = {e.metadata.name: e.metadata.resource_version for e in items}
        _watch_named(store, args, set(names), seen)
    return 0


def _watch_named(
    store: Store, args: argparse.Namespace, wanted: set[str], seen: dict[str, str | None]
) -> None:
    from kontinue.api import Execution

    try:
        while True:
            for n in sorted(wanted):
                try:
                    e = store.get(Execution, args.namespace, n)
                except Exception:
                    continue
                if seen.get(n) != e.metadata.resource_version:
                    seen[n] = e.metadata.resource_version
                    _print([e], args, header=False)
                    sys.stdout.flush()
            for _ in store.watch(timeout=1.0):
                break
    except KeyboardInterrupt:
        return


def delete(args: argparse.Namespace) -> int:
    """`kontinue delete NAME...`, `-l SELECTOR` or `--all`, asking first when more than named."""
    from kontinue.api import Execution
    from kontinue.cli._stores import open_cli_store

    store = open_cli_store(args)
    names = [_strip_kind(n) for n in args.names]
    if names and (args.selector or args.all):
        raise UsageError("give names, or -l/--all, not both")
    if not names and not (args.selector or args.all):
        raise UsageError("name the Executions to delete, or pass -l SELECTOR or --all")
    if names:
        for n in names:
            store.get(Execution, args.namespace, n)  # all exist, or nothing is deleted
    else:
        picked = selected(store, args)
        # a child goes with its root: delete roots only, their trees follow
        picked_names = {e.metadata.name for e in picked}
        names = [
            e.metadata.name
            for e in picked
            if e.metadata.labels.get("kontinue.cloud/parent") not in picked_names
        ]
        if not names:
            sys.stderr.write("No Executions matched; nothing deleted.\n")
            return 0
        if not args.yes:
            _confirm(names, args.namespace)
    from kontinue.cli._stores import cli_runners
    from kontinue.runtime._cleanup import delete_execution

    runners = cli_runners(args, store)  # on Kubernetes: the cluster's runner, not local jobs
    for n in names:
        delete_execution(store, args.namespace, n, runners)
        sys.stderr.write(
            f"deleted Execution {n} and everything it owned (the logs of its steps too)\n"
        )
    return 0


def _confirm(names: list[str], namespace: str) -> None:
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    if not sys.stdin.isatty():
        raise UsageError(
            f"this would delete {len(names)} Execution(s) in namespace {namespace} ({shown}); "
            "nothing was deleted: pass --yes to confirm"
        )
    sys.stderr.write(
        f"Delete {len(names)} Execution(s) in namespace {namespace} and everything they own: "
        f"{shown}? [y/N] "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("nothing was deleted")


def show_one(store: Store, args: argparse.Namespace, name: str) -> int:
    """`kontinue get NAME`: one Execution (or an archived one), as a table or a document."""
    from kontinue.api import Execution

    try:
        ex = store.get(Execution, args.namespace, name)
    except NotFoundError:
        from kontinue.cli._schedules import get_archived, show_archived

        archive = get_archived(store, args.namespace, name)
        if archive is None:
            raise
        return show_archived(archive, args.output)
    ex.status.steps = len(store.read_journal(args.namespace, name))
    if args.output:
        sys.stdout.write(dump(ex.wire(), args.output) + ("\n" if args.output == "json" else ""))
        return 0
    print_table(
        [
            [
                ex.metadata.name,
                ex.spec.function,
                ex.status.phase,
                progress_text(ex),
                # status.attempts counts the retries: the first run is attempt 1, as in
                # `-o wide` and `describe`
                str(ex.status.attempts + 1 if ex.status.start_time else 0),
                str(ex.status.resumptions),
                age(ex.metadata.creation_timestamp),
            ]
        ],
        ["NAME", "FUNCTION", "PHASE", "PROGRESS", "ATTEMPTS", "RESUMPTIONS", "AGE"],
    )
    if ex.status.message:
        print(f"Message: {ex.status.message}")
    if ex.status.error:
        print(f"Error:   {ex.status.error.kind}: {ex.status.error.message}")
        if ex.status.error.stack_trace:
            print("Raised at (most recent call last):")
            print(ex.status.error.stack_trace.rstrip())
    if ex.status.result is not None:
        print("Result:  " + dump(ex.status.result, "json"))
    return 0
