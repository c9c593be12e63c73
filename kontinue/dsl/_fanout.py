"""Fan-outs of a pipeline: DAG scheduling (``needs``), loop items (``forEach``) and their names.

A DAG is lowered onto `spawn_execution` and `wait_any`: every step whose needs have all
succeeded is started as a child Execution (at most ``maxParallel`` at a time), and each time
one finishes the next ready ones start. The decisions depend only on journaled outcomes, so a
replay takes the same ones. After a failure no new step starts; the running ones end, then the
first failure is raised. A step whose need failed (or was not started) is ``Skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kontinue.dsl._steps import name_fix
from kontinue.runtime import Error, ExecutionContext, child_resource_name
from kontinue.sdk import ChildExecution, ChildExecutionOptions, spawn_execution, wait_any

__all__ = ["Task", "TaskOutcome", "item_names", "run_tasks"]


@dataclass(frozen=True)
class Task:
    """One child to run: its step name and the siblings it waits for."""

    name: str
    needs: Sequence[str] = ()
    data: Any = None


@dataclass
class TaskOutcome:
    """How one task ended: ``ok`` (with the child's result), ``failed`` or ``skipped``."""

    state: str
    result: Any = None
    error: Error | None = None
    reason: str | None = field(default=None)


def run_tasks(
    ktx: ExecutionContext,
    tasks: Sequence[Task],
    spec: Callable[[Task, Mapping[str, TaskOutcome]], ChildExecutionOptions],
    max_parallel: int | None = None,
) -> tuple[dict[str, TaskOutcome], Error | None, str | None]:
    """Run ``tasks`` as children in dependency order.

    Returns:
        Every task's outcome, the first error (None if none failed) and its task's name.

    ``spec`` builds a task's child when it starts, from the outcomes so far (so a task's
    arguments hold the outcomes of what it needs).
    """
    done: dict[str, TaskOutcome] = {}
    running: dict[str, Task] = {}
    first: Error | None = None
    failed_step: str | None = None
    while True:
        if first is None:
            _start_ready(ktx, tasks, done, running, spec, max_parallel)
        if not running:
            break
        children = [ChildExecution(name=child, namespace=ktx.namespace) for child in running]
        child, result, error = wait_any(ktx, children)
        task = running.pop(child.name)
        if error is None:
            done[task.name] = TaskOutcome("ok", result)
        else:
            done[task.name] = TaskOutcome("failed", error=error)
            if first is None:
                first, failed_step = error, task.name
    for task in tasks:
        if task.name not in done:
            done[task.name] = TaskOutcome("skipped", reason=f"not started: {failed_step} failed")
    return done, first, failed_step


def _start_ready(
    ktx: ExecutionContext,
    tasks: Sequence[Task],
    done: dict[str, TaskOutcome],
    running: dict[str, Task],
    spec: Callable[[Task, Mapping[str, TaskOutcome]], ChildExecutionOptions],
    max_parallel: int | None,
) -> None:
    started = {running[name].name for name in running}
    changed = True
    while changed:  # a skip can make further tasks skip
        changed = False
        for task in tasks:
            if task.name in done or task.name in started:
                continue
            bad = [n for n in task.needs if n in done and done[n].state != "ok"]
            if bad:
                reason = f"skipped: it needs {bad[0]}, which {done[bad[0]].state}"
                done[task.name] = TaskOutcome("skipped", reason=reason)
                changed = True
                continue
            if not all(n in done for n in task.needs):
                continue
            if max_parallel is not None and len(running) >= max_parallel:
                return
            options = spec(task, done)
            child = spawn_execution(ktx, options.function, options.arguments, options.options)
            running[child.name] = task
            started.add(task.name)


def item_names(step: str, items: Sequence[Any]) -> list[str]:
    """Deterministic, readable child step names for loop items: ``deploy-eu-west-1``.

    Strings and numbers name themselves; a mapping by its ``name`` (or ``id``) key, else by
    its 1-based position. Repeats get ``-2``, ``-3``; names stay valid Kubernetes names of at
    most 63 characters (a cut name ends in a short hash of the whole).
    """
    names: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = item
        if isinstance(item, Mapping):
            label = item.get("name", item.get("id"))
        if isinstance(label, bool) or not isinstance(label, str | int | float):
            label = str(index + 1)
        base = child_resource_name(step, name_fix(str(label)))
        name, count = base, 1
        while name in seen:
            count += 1
            name = child_resource_name(step, f"{name_fix(str(label))}-{count}")
        seen.add(name)
        names.append(name)
    return names
