"""Rendering resources for people: tables, YAML/JSON, ages, progress and trees."""

from __future__ import annotations

import functools
import io
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kontinue.api import Execution, SuspensionEntry
    from kontinue.store import Store


@functools.cache
def _cdumper() -> tuple[Any, Any]:
    """PyYAML and its libyaml emitter, or (None, None); imported on first use."""
    try:
        import yaml as pyyaml

        return pyyaml, pyyaml.CSafeDumper
    except (ImportError, AttributeError):  # no PyYAML, or one built without libyaml
        return None, None


__all__ = ["age", "dump", "execution_line", "print_table", "render_tree", "stream_list"]


def dump(obj: Any, fmt: str) -> str:
    """JSON (indented) or YAML text of a JSON-plain value."""
    if fmt == "json":
        return json.dumps(obj, indent=2, default=str)
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue()


def stream_list(items: Iterable[Any], fmt: str, out: Any = None) -> None:
    """Write a Kubernetes `List` of resources as JSON or YAML, one item at a time.

    Memory holds one item, not the document: `kontinue list -o yaml` of 100,000 Executions
    starts printing at once and stays small. YAML goes through libyaml's C emitter when
    PyYAML has it (about 15 times faster than a pure-Python emitter).
    """
    out = out or sys.stdout
    if fmt == "json":
        out.write('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [')
        first = True
        for item in items:
            text = json.dumps(item.wire(), indent=2, default=str).replace("\n", "\n    ")
            out.write(("\n    " if first else ",\n    ") + text)
            first = False
        out.write("]\n}\n" if first else "\n  ]\n}\n")
        return
    out.write("apiVersion: v1\nkind: List\n")
    first = True
    for item in items:
        if first:
            out.write("items:\n")
            first = False
        out.write(_yaml_item(item.wire()))
    if first:
        out.write("items: []\n")


def _yaml_item(obj: Any) -> str:
    """`- ...` : one element of a YAML sequence at the top level."""
    pyyaml, dumper = _cdumper()
    if dumper is not None:
        return str(pyyaml.dump([obj], Dumper=dumper, default_flow_style=False, sort_keys=False))
    return dump([obj], "yaml")


def age(ts: datetime | None, now: datetime | None = None) -> str:
    """kubectl-style age: 5s, 3m, 2h, 4d."""
    if ts is None:
        return "-"
    seconds = int(((now or datetime.now(UTC)) - ts).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def progress_text(ex: Execution) -> str:
    """`3/5` or `-`."""
    p = ex.status.progress
    return f"{p.current}/{p.max}" if p else "-"


def execution_line(ex: Execution) -> str:
    """One status line: name, phase, progress and message."""
    parts = [ex.metadata.name, ex.status.phase]
    if ex.status.progress:
        parts.append(f"[{progress_text(ex)}]")
    if ex.status.message:
        parts.append(ex.status.message)
    return "  ".join(parts)


def print_table(
    rows: list[list[str]], header: list[str], out: Any = None, *, show_header: bool = True
) -> None:
    """Print columns aligned like kubectl."""
    out = out or sys.stdout
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    out.write(
        "".join(
            "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
            for row in (table if show_header else rows)
        )
    )


def render_tree(store: Store, root: Execution) -> str:
    """The Execution with its steps, suspensions and children, indented."""
    from kontinue.api import SpawnEntry, SuspensionEntry, WaitEntry
    from kontinue.runtime import tree_executions, tree_suspensions

    ns = root.metadata.namespace
    owned: dict[str, list[Execution]] = {}
    for ex in tree_executions(store, root):
        for ref in ex.metadata.owner_references:
            owned.setdefault(ref.uid, []).append(ex)
    suspensions = tree_suspensions(store, root)
    lines: list[str] = []

    def visit(ex: Execution, indent: str) -> None:
        title = ex.spec.display_name or ex.spec.function
        lines.append(f"{indent}{ex.metadata.name} ({title})  {_status(ex)}")
        kids = {c.metadata.name: c for c in owned.get(ex.metadata.uid or "", [])}
        for entry in store.read_entries(ns, ex.metadata.name):
            if entry.replaces is not None:
                continue
            kind, name = entry.kind, entry.name
            if isinstance(entry, SpawnEntry) and entry.child in kids:
                continue  # shown with the child itself below
            if isinstance(entry, WaitEntry):
                continue
            label = entry.display_name or name
            message = entry.error_message
            outcome = "done" if message is None else "failed: " + message
            if isinstance(entry, SuspensionEntry) and kind == "suspend" and message is None:
                outcome = _resolved(entry)
            lines.append(f"{indent}  - {kind} {label}: {outcome}")
        for sus in suspensions.values():
            if sus.spec.execution == ex.metadata.name and not sus.status.resolved:
                what = sus.spec.display_name or sus.spec.step
                until = f" until {sus.spec.resume_at.isoformat()}" if sus.spec.resume_at else ""
                lines.append(f"{indent}  - {sus.spec.type.lower()} {what}: waiting{until}")
        for name in sorted(kids, key=lambda n: str(kids[n].metadata.creation_timestamp)):
            visit(kids[name], indent + "  ")

    visit(root, "")
    return "\n".join(lines)


def _resolved(entry: SuspensionEntry) -> str:
    """``resolved by alice (kontinue resume) at 2026-…; inputs {"approve": true}``."""
    text = f"resolved by {entry.resolved_by or 'unknown'}"
    if entry.resolved_at:
        text += f" at {entry.resolved_at}"
    if entry.inputs:
        shown = json.dumps(entry.inputs, separators=(",", ":"), ensure_ascii=False)
        text += f"; inputs {shown if len(shown) <= 200 else shown[:197] + '...'}"
    return text


def _status(ex: Execution) -> str:
    parts: list[str] = [ex.status.phase]
    if ex.status.progress:
        parts.append(f"[{progress_text(ex)}]")
    if ex.status.error and ex.status.phase in ("Failed", "Backoff"):
        parts.append(ex.status.error.message)
    elif ex.status.message:
        parts.append(ex.status.message)
    return "  ".join(parts)
