"""Submitting a pipeline: compile it, check its params and functions, store the Execution.

`kontinue submit` and the server's API both go through these three calls, so a pipeline is
refused for the same reasons, with the same messages, wherever it comes from. (A module of
its own, not re-exported by `kontinue.dsl`: storing an Execution needs the engine, which the
front end itself never imports.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kontinue.api import ErrorKind, Execution, ExecutionMutex
from kontinue.dsl._arguments import validate_arguments
from kontinue.dsl._compiler import compile_pipeline
from kontinue.dsl._errors import TemplateError
from kontinue.dsl._interpreter import PIPELINE_FUNCTION, import_plan_modules
from kontinue.dsl._plan import Plan
from kontinue.dsl._template import render_text
from kontinue.runtime import REGISTRY, Error, Registry, start_execution
from kontinue.store import Store

__all__ = [
    "PIPELINE_LABEL",
    "Submission",
    "SubmitError",
    "check_functions",
    "compile_submission",
    "render_mutex",
    "start_pipeline",
]

PIPELINE_LABEL = "kontinue.cloud/pipeline"


class SubmitError(Error):
    """A pipeline that compiles cannot run here: an import fails or a function is missing.

    Attributes:
        problems: One sentence per problem, each naming the file and the fix.
    """

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Submission:
    """A compiled pipeline with checked params, ready to be stored."""

    file: str
    plan: Plan
    params: dict[str, Any]
    base_dir: str

    def arguments(self) -> dict[str, Any]:
        """The arguments of the built-in pipeline function: the plan itself, not the file."""
        return {"plan": dict(self.plan), "params": self.params, "baseDir": self.base_dir}


def compile_submission(
    file: str | os.PathLike[str],
    params: Mapping[str, Any],
    *,
    text: str | None = None,
) -> Submission:
    """Compile the pipeline and validate `params` against its params schema (defaults filled).

    Raises:
        PipelineError: the file has problems (every one, with line and column).
        ArgumentsError: the params do not match (every problem).
    """
    plan = compile_pipeline(file, text=text)
    checked = validate_arguments(plan, params)
    base_dir = str(Path(os.path.abspath(file)).parent)
    return Submission(os.fspath(file), plan, checked, base_dir)


_GROUP_KEYS = {"parallel": "branches", "dag": "tasks", "sequence": "steps"}


def _steps_of(plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(plan.get("steps") or []), *(plan.get("finally") or [])]


def _calls(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(step, function) for every call of a function, in groups and called pipelines too."""
    out = []
    for node in nodes:
        kind = node["type"]
        if kind == "call" and "function" in node["call"]:
            out.append((node["name"], node["call"]["function"]))
        elif kind == "call":
            out.extend(_calls(_steps_of(node["call"]["pipeline"])))
        elif kind in _GROUP_KEYS:
            out.extend(_calls(node[kind][_GROUP_KEYS[kind]]))
    return out


def check_functions(submission: Submission, registry: Registry = REGISTRY) -> None:
    """Import the pipeline's `imports` and check every function it calls is registered.

    Raises:
        SubmitError: an import fails, or a step calls a function nobody registered.
    """
    file = submission.file
    try:
        import_plan_modules(submission.plan, submission.base_dir)
    except (Error, ImportError) as exc:
        raise SubmitError([f"{file}: imports: {exc}"]) from None
    missing = [(step, fn) for step, fn in _calls(_steps_of(submission.plan)) if fn not in registry]
    if missing:
        raise SubmitError(
            [
                f"{file}: step {step!r} calls function {fn!r}, which is not registered; "
                "list its module under imports: in the pipeline, or pass --import"
                for step, fn in missing
            ]
        )


def render_mutex(
    file: str, plan: Mapping[str, Any], params: Mapping[str, Any]
) -> ExecutionMutex | None:
    """The pipeline's `mutex:`, its template rendered over the params; None without one.

    Raises:
        SubmitError: the template fails or renders an empty name.
    """
    text = plan.get("mutex")
    if not text:
        return None
    try:
        name = render_text(str(text), {"params": params}).strip()
    except TemplateError as exc:
        raise SubmitError([f"{file}: mutex: {exc}"]) from None
    if not name:
        raise SubmitError([f"{file}: mutex: {text!r} renders as an empty name with these params"])
    return ExecutionMutex(name=name)


def start_pipeline(
    store: Store,
    submission: Submission,
    *,
    name: str | None = None,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    mutex: ExecutionMutex | None = None,
) -> Execution:
    """Store a Pending Execution of the built-in pipeline function carrying the plan (with
    the pipeline's `mutex:` rendered, unless `mutex` is given).

    Raises:
        AlreadyExistsError: an Execution named `name` exists.
        SubmitError: the pipeline's mutex template fails.
    """
    plan = submission.plan
    if mutex is None:
        mutex = render_mutex(submission.file, plan, submission.params)
    return start_execution(
        store,
        PIPELINE_FUNCTION,
        submission.arguments(),
        name=name,
        generate_name=f"{plan.name}-",
        namespace=namespace,
        labels={**(plan.get("labels") or {}), **(labels or {}), PIPELINE_LABEL: plan.name},
        mutex=mutex,
        display_name=plan.name,
        description=plan.get("description"),
    )
