"""`kontinue list`, `get`, `delete` as kubectl has them: -o, -l, --phase, -A, --sort-by, -w."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import Any

from kontinue.api import Execution
from kontinue.cli._errors import UsageError
from kontinue.cli._flags import PHASES
from kontinue.cli._render import age, dump, print_table, progress_text, stream_list
from kontinue.store import NotFoundError, Store

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


def _query(store: Store, args: argparse.Namespace) -> Iterable[Execution]:
    """The Executions the filters pick: streamed, or a sorted list with --sort-by."""
    namespace = None if getattr(args, "all_namespaces", False) else args.namespace
    phases = _phases(getattr(args, "phase", None))
    items = store.iterate(Execution, namespace, args.selector, phases=phases)
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
    for e in items:
        value = _field(e.wire(), path)
        keyed.append(((value is None, str(value if value is not None else "")), e))
    keyed.sort(key=lambda pair: pair[0])
    return [e for _, e in keyed]


def selected(store: Store, args: argparse.Namespace) -> list[Execution]:
    """The Executions that the filters of `list`/`delete -l` pick, sorted as asked."""
    return list(_query(store, args))


def _message(e: Execution) -> str:
    return (e.status.error.message if e.status.error and e.terminal else e.status.message) or ""


def _duration(e: Execution) -> str:
    start = e.status.start_time
    if start is None:
        return "-"
    return age(start, e.status.finish_time) if e.status.finish_time else age(start)


def _row(e: Execution, wide: bool, namespaces: bool) -> list[str]:
    row = [e.metadata.name, e.spec.function, e.status.phase, progress_text(e)]
    row.append(age(e.metadata.creation_timestamp))
    if wide:
        row += [
            _duration(e),
            str(e.status.attempts + 1),
            e.metadata.labels.get("kontinue.cloud/parent", "-"),
            _message(e),
        ]
    else:
        row.append(_message(e)[:60])
    return ([e.metadata.namespace] if namespaces else []) + row


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
    rows = [_row(e, wide, namespaces) for e in items]
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
    for e in _query(store, args):
        seen[e.metadata.name] = e.metadata.resource_version
        if args.output == "name":
            sys.stdout.write(f"execution.kontinue.cloud/{e.metadata.name}\n")
        else:
            rows.append(_row(e, wide, namespaces))
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
    """`kontinue get NAME...`: the Executions named (one table, or their documents)."""
    from kontinue.cli._stores import open_cli_store

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
    from kontinue.cli._runners import embedded_runners
    from kontinue.runtime._cleanup import delete_execution

    runners = embedded_runners(args.state_dir, args.runner)
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
                str(ex.status.attempts),
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
