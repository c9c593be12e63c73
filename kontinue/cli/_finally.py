"""`kontinue cancel` of a pipeline with `finally:` steps: they still run, as their own Execution.

Cancel stops the whole tree at once (jobs are killed, nothing of it runs again), so the finally
steps run in a new Execution of the same plan, `<name>-finally`, seeing `pipeline.phase` =
Canceled. It is not owned by the canceled one (that would cancel it too) but labelled
`kontinue.cloud/finally-of: <name>`. Outcomes of the main steps are not known there: its
templates can read params and pipeline, not steps.
"""

from __future__ import annotations

from typing import Any

from kontinue.api import Execution
from kontinue.dsl._interpreter import PIPELINE_FUNCTION
from kontinue.runtime import child_resource_name, children_of, start_execution
from kontinue.store import AlreadyExistsError, Store

__all__ = ["FINALLY_OF", "start_finally_after_cancel"]

FINALLY_OF = "kontinue.cloud/finally-of"
PIPELINE_LABEL = "kontinue.cloud/pipeline"


def _already_started(store: Store, ex: Execution, names: set[str]) -> bool:
    """Whether the canceled run had reached its finally steps itself."""
    recorded = {
        entry.get("name") for entry in store.read_journal(ex.metadata.namespace, ex.metadata.name)
    }
    steps = {c.metadata.labels.get("kontinue.cloud/step") for c in children_of(store, ex)}
    return bool(names & (recorded | steps))


def start_finally_after_cancel(store: Store, ex: Execution, reason: str) -> str | None:
    """Start the finally steps of a canceled pipeline; returns the new Execution's name."""
    arguments: Any = ex.spec.arguments
    plan = arguments.get("plan") if isinstance(arguments, dict) else None
    if ex.spec.function != PIPELINE_FUNCTION or not isinstance(plan, dict):
        return None
    nodes = plan.get("finally") or []
    if not nodes or arguments.get("branch"):
        return None
    if _already_started(store, ex, {str(node.get("name")) for node in nodes}):
        return None
    name = str(plan.get("name"))
    sub = {**plan, "steps": nodes, "finally": [], "result": None}
    pipeline = {"name": name, "phase": "Canceled", "error": None, "reason": reason}
    target = child_resource_name(ex.metadata.name, "finally")
    try:
        started = start_execution(
            store,
            PIPELINE_FUNCTION,
            {
                "plan": sub,
                "params": arguments.get("params") or {},
                "baseDir": arguments.get("baseDir"),
                "names": {"pipeline": pipeline},
            },
            name=target,
            namespace=ex.metadata.namespace,
            labels={PIPELINE_LABEL: name, FINALLY_OF: ex.metadata.name},
            display_name=f"{name} finally (after cancel)",
        )
    except AlreadyExistsError:
        return None
    return started.metadata.name
