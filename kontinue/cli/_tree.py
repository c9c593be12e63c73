"""What a run looks like to a person: an Execution's steps as a tree of display nodes.

Phases are what a step is doing, not how the engine parks it: a step whose script runs is
`Running` the whole time (the Execution behind it goes Suspended, Pending, Executing), a
gate is `Waiting`, a sleep `Sleeping`, a retry's wait `Retrying`. A pipeline shows its plan:
steps not reached yet are `Pending`, a parallel step holds its branches with its own
progress (done/total), and the pipeline's progress counts its top-level steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kontinue.api import Execution, JobEntry, SpawnEntry, Suspension, SuspensionEntry
from kontinue.runtime import tree_executions, tree_suspensions
from kontinue.store import Store

__all__ = ["DONE", "Node", "build", "display_phase", "flatten"]

PIPELINE = "kontinue.pipeline"
DONE = frozenset({"Completed", "Succeeded", "Failed", "Canceled", "Skipped"})


@dataclass
class Node:
    """One line of the tree: a step or an Execution."""

    key: str
    label: str
    phase: str
    message: str = ""
    progress: tuple[int, int] | None = None
    start: datetime | None = None
    end: datetime | None = None
    children: list[Node] = field(default_factory=list)
    gate: Suspension | None = None


def display_phase(ex: Execution, suspensions: dict[str, Suspension]) -> str:
    """The phase a person sees for an Execution (no Pending/Suspended flapping)."""
    phase = ex.status.phase
    if phase in ("Completed", "Failed", "Canceled"):
        return phase
    if phase == "Backoff":
        return "Retrying"
    if phase == "Pending":
        return "Pending" if ex.status.start_time is None else "Running"
    waiting = ex.status.waiting_on
    if phase == "Suspended" and waiting is not None and waiting.kind == "suspension":
        sus = suspensions.get(waiting.names[0]) if waiting.names else None
        if sus is not None and not sus.status.resolved:
            return "Waiting" if sus.spec.type == "Suspend" else "Sleeping"
    return "Running"


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class _Builder:
    def __init__(self, store: Store, root: Execution) -> None:
        self.store = store
        self.executions = tree_executions(store, root)
        self.suspensions = tree_suspensions(store, root)
        self.kids: dict[str, list[Execution]] = {}
        for ex in self.executions[1:]:
            parent = ex.metadata.labels.get("kontinue.cloud/parent", "")
            self.kids.setdefault(parent, []).append(ex)

    def execution(self, ex: Execution, key: str, label: str) -> Node:
        error = ex.status.error
        message = (error.message if error and ex.terminal else ex.status.message) or ""
        progress = ex.status.progress
        node = Node(
            key=key,
            label=label,
            phase=display_phase(ex, self.suspensions),
            message=message,
            progress=(progress.current, progress.max) if progress else None,
            start=ex.status.start_time or ex.metadata.creation_timestamp,
            end=ex.status.finish_time,
        )
        node.children = self.steps(ex, key)
        if node.phase == "Waiting":
            node.gate = next((c.gate for c in node.children if c.gate is not None), None)
        return node

    def steps(self, ex: Execution, key: str) -> list[Node]:
        name = ex.metadata.name
        kids = {k.metadata.name: k for k in self.kids.get(name, [])}
        nodes: list[tuple[str, Node]] = []  # (step name, node)
        used: set[str] = set()
        for entry in self.store.read_entries(ex.metadata.namespace, name):
            if entry.kind == "wait" or entry.replaces is not None:
                continue
            step = entry.name
            label = entry.display_name or step
            if isinstance(entry, SpawnEntry):
                child = kids.get(entry.child)
                if child is not None:
                    used.add(child.metadata.name)
                    nodes.append((step, self.execution(child, f"{key}/{step}", label)))
                continue
            node = Node(key=f"{key}/{step}", label=label, phase="Completed")
            message = entry.error_message
            if message is not None:
                node.phase, node.message = "Failed", message
            if isinstance(entry, JobEntry):
                job = entry.job
                node.start, node.end = _ts(job.get("startedAt")), _ts(job.get("finishedAt"))
                if job.get("phase") == "Failed":
                    node.phase = "Failed"
            elif isinstance(entry, SuspensionEntry) and entry.resolved_by not in (None, "timer"):
                node.message = f"resumed by {entry.resolved_by}"
            nodes.append((step, node))
        for child in kids.values():  # spawned, not journaled yet
            if child.metadata.name not in used:
                step = child.metadata.name.removeprefix(name + "-")
                label = child.spec.display_name or step
                nodes.append((step, self.execution(child, f"{key}/{step}", label)))
        seen = {step for step, _ in nodes}
        waiting = ex.status.waiting_on
        if waiting is not None and waiting.kind in ("job", "poll") and waiting.step not in seen:
            step = waiting.step or "step"
            nodes.append(
                (
                    step,
                    Node(
                        key=f"{key}/{step}",
                        label=step,
                        phase="Running",
                        message=ex.status.message or "",
                        start=ex.status.attempt_start_time,
                    ),
                )
            )
            seen.add(step)
        for sus in self.suspensions.values():
            if sus.spec.execution != name or sus.status.resolved or sus.spec.step in seen:
                continue
            gate = sus.spec.type == "Suspend"
            until = sus.spec.resume_at
            node = Node(
                key=f"{key}/{sus.spec.step}",
                label=sus.spec.display_name or sus.spec.step,
                phase="Waiting" if gate else "Sleeping",
                message=f"until {until:%H:%M:%S} UTC" if until and not gate else "",
                start=sus.metadata.creation_timestamp,
                gate=sus if gate else None,
            )
            nodes.append((sus.spec.step, node))
            seen.add(sus.spec.step)
        if ex.spec.function == PIPELINE and isinstance(ex.spec.arguments, dict):
            return self.plan_order(ex, key, nodes)
        return [n for _, n in nodes]

    def plan_order(self, ex: Execution, key: str, nodes: list[tuple[str, Node]]) -> list[Node]:
        """Lay a pipeline's nodes out as its plan: parallel steps hold their branches."""
        arguments: dict[str, Any] = ex.spec.arguments or {}
        plan = arguments.get("plan") or {}
        top = plan.get("steps") or []
        if arguments.get("branch") and len(top) == 1:
            return [c for _, n in nodes for c in n.children]  # the branch is that step
        by_step = dict(nodes)
        placed: set[str] = set()
        out: list[Node] = []
        for spec in top + list(plan.get("finally") or []):
            step = spec.get("name", "")
            branches = (spec.get("parallel") or {}).get("branches")
            if branches:
                inner = [by_step[b["name"]] for b in branches if b.get("name") in by_step]
                placed.update(b.get("name", "") for b in branches)
                group = Node(
                    key=f"{key}/{step}",
                    label=spec.get("displayName") or step,
                    phase="Pending",
                    children=inner,
                )
                finished = sum(1 for n in inner if n.phase in DONE)
                group.progress = (finished, len(branches))
                if any(n.phase == "Failed" for n in inner):
                    group.phase = "Failed"
                elif inner and finished == len(branches):
                    group.phase = "Completed"
                elif inner:
                    group.phase = "Running"
                starts = [n.start for n in inner if n.start]
                ends = [n.end for n in inner if n.end]
                group.start = min(starts) if starts else None
                group.end = max(ends) if ends and group.phase in DONE else None
                out.append(group)
            elif step in by_step:
                placed.add(step)
                out.append(by_step[step])
            elif ex.terminal:
                out.append(
                    Node(
                        key=f"{key}/{step}",
                        label=spec.get("displayName") or step,
                        phase="Skipped" if ex.status.phase == "Completed" else "Canceled",
                    )
                )
            else:
                out.append(
                    Node(
                        key=f"{key}/{step}", label=spec.get("displayName") or step, phase="Pending"
                    )
                )
        out.extend(n for s, n in nodes if s not in placed and n not in out)
        return out


def build(store: Store, root: Execution) -> Node:
    """The display tree of `root`."""
    title = root.spec.display_name or root.spec.function
    name = root.metadata.name
    label = name if title == name else f"{name} ({title})"
    return _Builder(store, root).execution(root, root.metadata.name, label)


def flatten(node: Node, depth: int = 0) -> list[tuple[int, Node]]:
    """Every node with its depth, parents first."""
    out = [(depth, node)]
    for child in node.children:
        out.extend(flatten(child, depth + 1))
    return out
