"""What the API shows of an Execution: its detail, and its tree of steps and children."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kontinue.api import Execution, Suspension
from kontinue.runtime import tree_executions, tree_suspensions
from kontinue.server._index import summary
from kontinue.store import Store

__all__ = ["LogTarget", "detail", "log_targets", "tree"]

_JOB_KINDS = ("job", "pod", "script")
_PIPELINE_FUNCTION = "kontinue.pipeline"


def detail(store: Store, ex: Execution) -> dict[str, Any]:
    """The list summary plus spec, status, result and error, and the pipeline's plan."""
    out = summary(ex)
    st = ex.status
    out.update(
        {
            "description": ex.spec.description,
            "annotations": dict(ex.metadata.annotations),
            "arguments": ex.spec.arguments,
            "result": st.result,
            "error": st.error.wire() if st.error else None,
            "resumptions": st.resumptions,
            "waitingOn": st.waiting_on.wire() if st.waiting_on else None,
            "retry": ex.spec.retry.wire() if ex.spec.retry else None,
            "timeout": ex.spec.timeout.wire() if ex.spec.timeout else None,
            "manifest": ex.wire(),
        }
    )
    if ex.spec.function == _PIPELINE_FUNCTION and isinstance(ex.spec.arguments, dict):
        args = ex.spec.arguments
        out["arguments"] = args.get("params", {})
        out["plan"] = args.get("plan")
    return out


def _job(entry: dict[str, Any]) -> dict[str, Any]:
    job = entry.get("job") or {}
    pods = job.get("pods") or []
    pod = pods[-1] if pods else {}
    containers = pod.get("containers") or []
    exit_code = containers[0].get("exitCode") if containers else None
    return {
        "job": job.get("name"),
        "runner": job.get("runner"),
        "phase": "Succeeded" if job.get("phase") == "Succeeded" else "Failed",
        "exitCode": exit_code,
        "started": job.get("startedAt"),
        "finished": job.get("finishedAt"),
        "message": job.get("message") or pod.get("message") or None,
    }


def _journal(store: Store, ex: Execution) -> list[dict[str, Any]]:
    """The journal with each retried step's newest outcome in its place."""
    entries = store.read_journal(ex.metadata.namespace, ex.metadata.name)
    by_seq = {e["seq"]: i for i, e in enumerate(entries)}
    shown: list[dict[str, Any] | None] = list(entries)
    for i, entry in enumerate(entries):
        replaced = entry.get("replaces")
        if replaced is not None and replaced in by_seq:
            shown[by_seq[replaced]] = entry
            shown[i] = None
    return [e for e in shown if e is not None]


def _step(entry: dict[str, Any], suspensions: dict[str, Suspension]) -> dict[str, Any]:
    kind = entry["kind"]
    node: dict[str, Any] = {
        "type": kind,
        "name": entry["name"],
        "displayName": entry.get("displayName"),
        "phase": "Failed" if "error" in entry else "Completed",
        "finished": entry.get("time"),
        "attempt": entry.get("attempt", 0),
    }
    if "error" in entry:
        node["error"] = entry["error"]
    elif "result" in entry:
        node["result"] = entry["result"]
    if kind in ("sleep", "suspend"):
        node["type"] = "approval" if kind == "suspend" else "sleep"
        sus = suspensions.get(entry.get("suspension") or "")
        if sus is not None:
            node["displayName"] = node["displayName"] or sus.spec.display_name
            node["description"] = sus.spec.description
            node["due"] = sus.spec.resume_at.isoformat() if sus.spec.resume_at else None
            node["resolvedBy"] = sus.status.resolved_by
            node["started"] = (
                sus.metadata.creation_timestamp.isoformat()
                if sus.metadata.creation_timestamp
                else None
            )
    if kind in _JOB_KINDS:
        job = _job(entry)
        node.update(job)
        node["logs"] = True
    return node


def _open_suspension(sus: Suspension) -> dict[str, Any]:
    is_sleep = sus.spec.type == "Sleep"
    return {
        "type": "sleep" if is_sleep else ("poll" if sus.spec.type == "Poll" else "approval"),
        "name": sus.spec.step,
        "suspension": sus.metadata.name,
        "displayName": sus.spec.display_name,
        "description": sus.spec.description,
        "phase": "Waiting",
        "due": sus.spec.resume_at.isoformat() if sus.spec.resume_at else None,
        "started": (
            sus.metadata.creation_timestamp.isoformat() if sus.metadata.creation_timestamp else None
        ),
        "resumable": True,
    }


def tree(store: Store, root: Execution, runners: dict[str, Any]) -> dict[str, Any]:
    """`root` as a node whose `steps` hold its journal, what it waits on, and its children
    (each a node of the same shape), in the order they happened."""
    everything = tree_executions(store, root)
    suspensions = tree_suspensions(store, root)
    owned: dict[str, list[Execution]] = {}
    for ex in everything[1:]:
        for ref in ex.metadata.owner_references:
            owned.setdefault(ref.uid, []).append(ex)

    def node(ex: Execution) -> dict[str, Any]:
        out = summary(ex)
        st = ex.status
        out.update(
            {
                "type": "execution",
                "description": ex.spec.description,
                "error": st.error.wire() if st.error else None,
                "result": st.result if ex.spec.function != _PIPELINE_FUNCTION else None,
                "resumptions": st.resumptions,
            }
        )
        kids = {k.metadata.name: k for k in owned.get(ex.metadata.uid or "", [])}
        shown: set[str] = set()
        steps: list[dict[str, Any]] = []
        for entry in _journal(store, ex):
            kind = entry["kind"]
            if kind == "wait":
                continue
            if kind == "spawn":
                child = kids.get(entry.get("child") or "")
                if child is not None and child.metadata.name not in shown:
                    shown.add(child.metadata.name)
                    steps.append(node(child))
                continue
            steps.append(_step(entry, suspensions))
        for sus in suspensions.values():
            if sus.spec.execution == ex.metadata.name and not sus.status.resolved:
                steps.append(_open_suspension(sus))
        waiting = st.waiting_on
        if waiting is not None and waiting.kind == "job" and not ex.terminal:
            for job_name in waiting.names:
                steps.append(_running_job(ex, waiting.step, job_name, waiting.runner, runners))
        for name in sorted(kids, key=lambda n: str(kids[n].metadata.creation_timestamp)):
            if name not in shown:
                steps.append(node(kids[name]))
        out["steps"] = steps
        return out

    return node(root)


def _running_job(
    ex: Execution, step: str | None, job: str, runner_kind: str | None, runners: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        # a pipeline runs scripts only; a function's running job could be any of the three
        "type": "script" if ex.spec.function == _PIPELINE_FUNCTION else "job",
        "name": step or job,
        "job": job,
        "runner": runner_kind,
        "phase": "Running",
        "logs": True,
        "running": True,
    }
    runner = runners.get(runner_kind or "local")
    if runner is not None:
        try:
            record = runner.poll(job, ex.metadata.namespace)
        except Exception:  # a runner that cannot answer must not break the page
            record = None
        if record is not None:
            out["started"] = record.started_at.isoformat() if record.started_at else None
            out["message"] = record.message or None
    return out


@dataclass(frozen=True)
class LogTarget:
    """A job, pod or script step whose logs can be read."""

    execution: str
    step: str
    job: str
    runner: str
    running: bool


def log_targets(store: Store, root: Execution) -> list[LogTarget]:
    """Every step of the tree of `root` that ran (or runs) a job, pod or script."""
    found: list[LogTarget] = []
    for ex in tree_executions(store, root):
        name = ex.metadata.name
        for entry in _journal(store, ex):
            if entry["kind"] in _JOB_KINDS and "job" in entry:
                job = entry["job"]
                found.append(LogTarget(name, entry["name"], job["name"], job["runner"], False))
        waiting = ex.status.waiting_on
        if waiting is not None and waiting.kind == "job" and waiting.names and not ex.terminal:
            found.append(
                LogTarget(
                    name, waiting.step or "", waiting.names[0], waiting.runner or "local", True
                )
            )
    return found
