"""The built-in durable function that runs a compiled pipeline plan through the SDK.

There is no second engine: each plan node becomes the SDK call a hand-written function
would make (`run_script`, `sleep_named`, `suspend`, `execute_parallel`, `execute`), so a
pipeline is journaled, parked, resumed and retried exactly like Python code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from kontinue.api import ExecutionRetry, ExecutionTimeout, parse_duration
from kontinue.dsl._errors import TemplateError
from kontinue.dsl._shell import VALUE_PREFIX, render_env, render_script
from kontinue.dsl._template import condition, render, render_text
from kontinue.runtime import ErrJobFailed, Error, ErrorKind, ExecutionContext, import_file
from kontinue.sdk import (
    ChildExecutionOptions,
    ExecuteOptions,
    ScriptOptions,
    SleepOptions,
    SuspendOptions,
    execute,
    execute_parallel,
    function,
    run_script,
    set_message,
    sleep_named,
    suspend,
)

__all__ = ["PIPELINE_FUNCTION", "PipelineArgs", "import_plan_modules"]

PIPELINE_FUNCTION = "kontinue.pipeline"

_T = TypeVar("_T")


class PipelineArgs(BaseModel):
    """What an Execution of a pipeline carries: the plan itself, so file edits never matter."""

    plan: dict[str, Any]
    params: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, Any] = Field(default_factory=dict)
    base_dir: str | None = Field(default=None, alias="baseDir")
    branch: bool = False

    model_config = {"populate_by_name": True}


def import_plan_modules(plan: dict[str, Any], base_dir: str | None) -> None:
    """Import the plan's `imports` (files relative to the pipeline's directory, or modules)."""
    # a plan's imports are relative to its own file; `source` is relative to the top plan's
    folder = Path(base_dir or ".") / Path(str(plan.get("source") or ".")).parent
    for target in plan.get("imports") or []:
        try:
            if target.endswith(".py") or "/" in target:
                import_file(folder / target)
            else:
                import_module(target)
        except Exception as exc:
            raise Error(f"cannot import {target}: {exc}", retryable=False, cause=exc) from None


class _Run:
    """One Execution's walk over plan nodes, with the template context it builds up."""

    def __init__(self, ktx: ExecutionContext, args: PipelineArgs) -> None:
        self.ktx = ktx
        self.args = args
        ex = ktx.execution()
        self.context: dict[str, Any] = {
            "params": args.params,
            "steps": dict(args.steps),
            "execution": {
                "name": ex.metadata.name,
                "namespace": ex.metadata.namespace,
                "labels": dict(ex.metadata.labels),
                "attempts": ktx.attempts(),
            },
        }
        self.own: dict[str, Any] = {}

    def render(self, node: dict[str, Any], value: Any, what: str, text: bool = False) -> Any:
        """Render a template tree (`text`: always a string), naming the step on an error."""
        try:
            return render_text(value, self.context) if text else render(value, self.context)
        except TemplateError as exc:
            raise Error(
                f'step "{node["name"]}" of pipeline {self.args.plan.get("name")!r}: {what}: {exc}',
                kind=ErrorKind.VALIDATION,
                retryable=False,
            ) from None

    def guard(self, node: dict[str, Any], what: str, run: Callable[[], _T]) -> _T:
        """Run a rendering, naming the step on a template error."""
        try:
            return run()
        except TemplateError as exc:
            raise Error(
                f'step "{node["name"]}" of pipeline {self.args.plan.get("name")!r}: {what}: {exc}',
                kind=ErrorKind.VALIDATION,
            ) from None

    def text(self, node: dict[str, Any], value: str, what: str) -> str:
        return str(self.render(node, value, what, text=True))

    def done(self, name: str, outcome: dict[str, Any]) -> None:
        self.context["steps"][name] = outcome
        self.own[name] = outcome

    def steps(self, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            self.node(node)

    def node(self, node: dict[str, Any]) -> None:
        name = node["name"]
        when = node.get("when")
        if when is not None:
            try:
                go = condition(when, self.context)
            except TemplateError as exc:
                raise Error(
                    f'step "{name}": cannot evaluate when: {exc}',
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                ) from None
            if not go:
                self.done(name, {"phase": "Skipped", "result": None})
                return
        kind = node["type"]
        if kind != "call" and (node.get("retry") or node.get("timeout")):
            self.as_child(node)
            return
        getattr(self, f"run_{kind}")(node)

    # -- node kinds ---------------------------------------------------------------------

    def run_script(self, node: dict[str, Any]) -> None:
        spec = node["script"]
        shell = spec.get("shell") or ["/bin/sh", "-c"]
        # values reach the script as env variables, never as shell text (see _shell.py)
        command, values = self.guard(
            node, "command", lambda: render_script(spec["command"], self.context, shell)
        )
        env: dict[str, str] = {}
        for key, text in (spec.get("env") or {}).items():
            env[key] = self.guard(node, f"env {key}", partial(render_env, text, self.context))
        clash = sorted(set(env) & set(values))
        if clash:
            raise Error(
                f'step "{node["name"]}": env {clash[0]} is a name kontinue uses for the values '
                f"a command inserts; rename it (names starting {VALUE_PREFIX} are reserved)",
                kind=ErrorKind.VALIDATION,
            )
        env.update(values)
        result = run_script(
            self.ktx,
            ScriptOptions(
                name=node["name"],
                display_name=node.get("displayName"),
                description=node.get("description"),
                image=spec["image"],
                command=command,
                shell=shell,
                env=env,
                working_dir=spec.get("workingDir"),
            ),
        )
        logs = result.logs(self.ktx) if result.pod.containers else ""
        outcome = {
            "phase": "Succeeded" if result.succeeded() else "Failed",
            "exitCode": result.exit_code,
            "result": logs.strip(),
            "logs": logs,
        }
        self.done(node["name"], outcome)
        if not result.succeeded():
            summary = result.log_error_summary(self.ktx)
            raise ErrJobFailed(
                f'script step "{node["name"]}" failed with exit code {result.exit_code}: {summary}'
            )

    def run_sleep(self, node: dict[str, Any]) -> None:
        duration = parse_duration(node["sleep"]["duration"])
        sleep_named(
            self.ktx,
            SleepOptions(
                name=node["name"],
                duration=duration,
                display_name=node.get("displayName"),
                description=node.get("description"),
            ),
        )
        self.done(node["name"], {"phase": "Completed", "result": None})

    def run_suspend(self, node: dict[str, Any]) -> None:
        spec = node.get("suspend") or {}
        display = self.render(node, spec.get("displayName"), "displayName")
        description = self.render(node, spec.get("description"), "description")
        suspend(
            self.ktx,
            SuspendOptions(
                name=node["name"],
                display_name=display or node.get("displayName") or node["name"],
                description=description or node.get("description"),
            ),
        )
        self.done(node["name"], {"phase": "Completed", "result": None})

    def run_sequence(self, node: dict[str, Any]) -> None:
        self.steps(node["sequence"]["steps"])
        self.done(node["name"], {"phase": "Completed", "result": None})

    def run_parallel(self, node: dict[str, Any]) -> None:
        branches = node["parallel"]["branches"]
        specs = [
            ChildExecutionOptions(
                function=PIPELINE_FUNCTION,
                arguments=self.child_args({"steps": [_without_limits(branch)]}),
                options=ExecuteOptions(
                    name=branch["name"],
                    display_name=branch.get("displayName") or branch["name"],
                    description=branch.get("description"),
                    retry=_retry(branch),
                    timeout=_timeout(branch),
                ),
            )
            for branch in branches
        ]
        results = execute_parallel(self.ktx, specs)
        for branch_result in results:
            for step, outcome in (branch_result or {}).get("steps", {}).items():
                self.done(step, outcome)
        self.done(
            node["name"],
            {"phase": "Completed", "result": [self.context["steps"][b["name"]] for b in branches]},
        )

    def run_call(self, node: dict[str, Any]) -> None:
        spec = node["call"]
        arguments = self.render(node, spec.get("with"), "with")
        opts = ExecuteOptions(
            name=node["name"],
            display_name=node.get("displayName"),
            description=node.get("description"),
            retry=_retry(node),
            timeout=_timeout(node),
        )
        if "pipeline" in spec:
            from kontinue.dsl._arguments import validate_arguments

            plan = spec["pipeline"]
            try:
                params = validate_arguments(plan, arguments or {})
            except Exception as exc:
                raise Error(
                    f'step "{node["name"]}" calls pipeline {plan.get("name")!r} with bad '
                    f"arguments: {exc}",
                    kind=ErrorKind.VALIDATION,
                    retryable=False,
                ) from None
            args = {
                "plan": plan,
                "params": params,
                "baseDir": self.args.base_dir,
            }
            result = execute(self.ktx, PIPELINE_FUNCTION, args, opts=opts)
        else:
            result = execute(self.ktx, spec["function"], arguments, opts=opts)
        self.done(node["name"], {"phase": "Completed", "result": result})

    def as_child(self, node: dict[str, Any]) -> None:
        """A step with its own retry or timeout runs as a child Execution that has them."""
        inner = {k: v for k, v in _without_limits(node).items() if k != "when"}
        result = execute(
            self.ktx,
            PIPELINE_FUNCTION,
            self.child_args({"steps": [inner]}),
            opts=ExecuteOptions(
                name=node["name"],
                display_name=node.get("displayName") or node["name"],
                description=node.get("description"),
                retry=_retry(node),
                timeout=_timeout(node),
            ),
        )
        for step, outcome in (result or {}).get("steps", {}).items():
            self.done(step, outcome)

    def child_args(self, plan_part: dict[str, Any]) -> dict[str, Any]:
        plan = {**self.args.plan, **plan_part, "result": None}
        return {
            "plan": plan,
            "params": self.args.params,
            "steps": self.context["steps"],
            "baseDir": self.args.base_dir,
            "branch": True,
        }


def _without_limits(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in ("retry", "timeout")}


def _retry(node: dict[str, Any]) -> ExecutionRetry | None:
    retry = node.get("retry")
    return ExecutionRetry.model_validate(retry) if retry else None


def _timeout(node: dict[str, Any]) -> ExecutionTimeout | None:
    timeout = node.get("timeout")
    if not timeout:
        return None
    return ExecutionTimeout.model_validate({k: v for k, v in timeout.items() if v is not None})


@function(PIPELINE_FUNCTION, description="Runs a compiled YAML pipeline (kontinue submit)")
def run_pipeline(ktx: ExecutionContext, args: PipelineArgs) -> Any:
    """Run the plan's steps in order; return the declared result, or every step's outcome."""
    import_plan_modules(args.plan, args.base_dir)
    run = _Run(ktx, args)
    run.steps(args.plan["steps"])
    if args.branch:
        return {"steps": run.own}
    count = len(run.own)
    set_message(
        ktx, f"pipeline {args.plan.get('name')}: {count} step{'s' if count != 1 else ''} done"
    )
    if args.plan.get("result") is not None:
        return run.render({"name": "result"}, args.plan["result"], "result")
    return {"steps": {k: v.get("result") for k, v in run.context["steps"].items()}}
