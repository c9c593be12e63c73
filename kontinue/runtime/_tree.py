"""Execution trees: a root, the children it spawned, theirs, and their Suspensions.

Every Execution and Suspension created inside a tree carries the root's name in the label
`kontinue.cloud/root`, so a tree is read with one label query instead of a scan of every
Execution the namespace ever held.
"""

from __future__ import annotations

import hashlib

from kontinue.api import Execution, Suspension
from kontinue.store import Store

__all__ = ["ROOT_LABEL", "root_label", "tree_executions", "tree_suspensions"]

ROOT_LABEL = "kontinue.cloud/root"


def root_label(ex: Execution) -> str:
    """The value of `kontinue.cloud/root` for what `ex` creates (a label value: ≤ 63 chars)."""
    inherited = ex.metadata.labels.get(ROOT_LABEL)
    if inherited:
        return inherited
    name = ex.metadata.name
    if len(name) <= 63:
        return name
    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def tree_executions(store: Store, root: Execution) -> list[Execution]:
    """`root` and every Execution below it, parents before their children."""
    ns = root.metadata.namespace
    labelled = store.list(Execution, ns, {ROOT_LABEL: root_label(root)})
    owned: dict[str, list[Execution]] = {}
    for ex in labelled:
        for ref in ex.metadata.owner_references:
            owned.setdefault(ref.uid, []).append(ex)
    out, todo = [], [root]
    while todo:
        ex = todo.pop(0)
        out.append(ex)
        kids = owned.get(ex.metadata.uid or "", [])
        todo.extend(sorted(kids, key=lambda k: str(k.metadata.creation_timestamp)))
    return out


def tree_suspensions(store: Store, root: Execution) -> dict[str, Suspension]:
    """The Suspensions of the tree of `root` (a subtree's root included), by name."""
    found = store.list(Suspension, root.metadata.namespace, {ROOT_LABEL: root_label(root)})
    return {s.metadata.name: s for s in found}
