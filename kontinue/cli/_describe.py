"""`kontinue describe NAME`: an Execution in full, as `kubectl describe` shows a resource."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any, TextIO

from kontinue.api import Execution, SpawnEntry, SuspensionEntry
from kontinue.cli._render import age, dump, progress_text
from kontinue.runtime import tree_executions, tree_suspensions
from kontinue.store import Store

__all__ = ["describe"]


def _when(ts: datetime | None) -> str:
    return "-" if ts is None else f"{ts:%Y-%m-%d %H:%M:%S} UTC ({age(ts)} ago)"


def _field(out: TextIO, label: str, value: Any, indent: int = 0) -> None:
    if value is None or value == "" or value == {}:
        return
    out.write(f"{' ' * indent}{label + ':':<14}{value}\n")


def _block(out: TextIO, label: str, value: Any) -> None:
    if value is None:
        return
    text = dump(value, "yaml").rstrip()
    pad = " " * (len(label) - len(label.lstrip()) + 2)
    out.write(f"{label}:\n")
    for line in text.splitlines():
        out.write(f"{pad}{line}\n")


def _steps(store: Store, ex: Execution) -> list[list[str]]:
    rows = []
    for entry in store.read_entries(ex.metadata.namespace, ex.metadata.name):
        if entry.kind == "wait" or entry.replaces is not None:
            continue
        label = entry.display_name or entry.name
        message = entry.error_message
        if message is not None:
            outcome = "failed: " + message
        elif isinstance(entry, SpawnEntry):
            outcome = f"started {entry.child}"
        elif isinstance(entry, SuspensionEntry) and entry.resolved_by:
            outcome = f"resumed by {entry.resolved_by}"
        else:
            outcome = "done"
        rows.append([str(entry.seq), entry.kind, label, outcome])
    return rows


def _events(store: Store, ex: Execution) -> list[tuple[str, str]]:
    """(time, what happened): starts, attempts, gates and sleeps opened and resumed, the end."""
    events: list[tuple[str, str]] = []
    st = ex.status
    if ex.metadata.creation_timestamp:
        events.append((str(ex.metadata.creation_timestamp), "Created"))
    if st.start_time:
        events.append((str(st.start_time), "Started (attempt 1)"))
    if st.attempts and st.attempt_start_time:
        events.append((str(st.attempt_start_time), f"Attempt {st.attempts + 1} started"))
    names = {e.metadata.name for e in tree_executions(store, ex)}
    for sus in tree_suspensions(store, ex).values():
        if sus.spec.execution not in names:
            continue
        kind = {"Suspend": "Gate", "Sleep": "Sleep", "Poll": "Poll"}[sus.spec.type]
        what = sus.spec.display_name or sus.spec.step
        where = "" if sus.spec.execution == ex.metadata.name else f" in {sus.spec.execution}"
        events.append((str(sus.metadata.creation_timestamp), f"{kind} {what!r}{where} opened"))
        if sus.status.resolved:
            by = sus.status.resolved_by or "its timer"
            events.append((str(sus.status.resolved_at), f"{kind} {what!r}{where} resumed by {by}"))
    if st.finish_time:
        events.append((str(st.finish_time), st.phase))
    events.sort()
    return events


def describe(args: argparse.Namespace) -> int:
    """Print spec, status, the journal's steps, the children and the events of one Execution."""
    from kontinue.cli._commands import _store

    store = _store(args)
    ex = store.get(Execution, args.namespace, args.name)
    out = sys.stdout
    meta, spec, st = ex.metadata, ex.spec, ex.status
    _field(out, "Name", meta.name)
    _field(out, "Namespace", meta.namespace)
    _field(out, "Function", spec.function)
    _field(out, "Display name", spec.display_name)
    _field(out, "Description", spec.description)
    labels = ", ".join(f"{k}={v}" for k, v in sorted(meta.labels.items()))
    _field(out, "Labels", labels or "<none>")
    _field(out, "Created", _when(meta.creation_timestamp))
    if meta.owner_references:
        _field(
            out, "Parent", meta.labels.get("kontinue.cloud/parent", meta.owner_references[0].name)
        )
    out.write("Spec:\n")
    if spec.function != "kontinue.pipeline":
        _block(out, "  Arguments", spec.arguments)
    else:
        params = (spec.arguments or {}).get("params") if isinstance(spec.arguments, dict) else None
        _block(out, "  Params", params)
    for label, value in (("Retry", spec.retry), ("Timeout", spec.timeout), ("Mutex", spec.mutex)):
        if value is not None:
            _field(
                out,
                label,
                dump(
                    value.model_dump(mode="json", by_alias=True, exclude_none=True), "json"
                ).replace("\n", " "),
                2,
            )
    out.write("Status:\n")
    _field(out, "Phase", st.phase, 2)
    _field(out, "Progress", progress_text(ex) if st.progress else None, 2)
    _field(out, "Message", st.message, 2)
    _field(out, "Attempts", st.attempts + 1 if st.start_time else 0, 2)
    _field(out, "Resumptions", st.resumptions, 2)
    _field(out, "Started", _when(st.start_time) if st.start_time else None, 2)
    _field(out, "Finished", _when(st.finish_time) if st.finish_time else None, 2)
    if st.waiting_on is not None:
        w = st.waiting_on
        on = f"{w.kind} {', '.join(w.names)}".strip() + (f" (step {w.step})" if w.step else "")
        _field(out, "Waiting on", on, 2)
    if st.error is not None:
        _field(out, "Error", f"{st.error.kind}: {st.error.message}", 2)
        if st.error.stack_trace:
            out.write("  Raised at (most recent call last):\n")
            for line in st.error.stack_trace.rstrip().splitlines():
                out.write(f"    {line}\n")
    if st.result is not None:
        _block(out, "Result", st.result)
    steps = _steps(store, ex)
    out.write(f"Steps ({len(steps)} in the journal):\n")
    for seq, kind, label, outcome in steps:
        out.write(f"  {seq:>3}  {kind:<8} {label}: {outcome}\n")
    kids = [
        e
        for e in tree_executions(store, ex)[1:]
        if e.metadata.labels.get("kontinue.cloud/parent") == meta.name
    ]
    if kids:
        out.write("Children:\n")
        for kid in kids:
            out.write(f"  {kid.metadata.name}  {kid.spec.function}  {kid.status.phase}\n")
    out.write("Events:\n")
    for when, what in _events(store, ex):
        out.write(f"  {when[:19].replace('T', ' ')}  {what}\n")
    return 0
