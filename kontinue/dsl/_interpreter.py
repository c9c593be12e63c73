"""The built-in durable function that runs a compiled pipeline plan through the SDK.

There is no second engine: each plan node becomes the SDK call a hand-written function
would make (`run_script`, `sleep_named`, `suspend`, `execute_parallel`, `execute`), so a
pipeline is journaled, parked, resumed and retried exactly like Python code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, Field

from kontinue.api import (
    CancelRequest,
    ExecutionMutex,
    ExecutionRetry,
    ExecutionTimeout,
    ExecutionTTL,
    Progress,
    parse_duration,
)
from kontinue.dsl._budget import RenderInterrupted, interruptible
from kontinue.dsl._errors import TemplateError
from kontinue.dsl._fanout import Task, TaskOutcome, item_names, run_tasks
from kontinue.dsl._flow import LOOP_MAX
from kontinue.dsl._outcomes import failure_summary, job_outcome, pod_outcome
from kontinue.dsl._poll import poll_check
from kontinue.dsl._shell import VALUE_PREFIX, render_container, render_env, render_script
from kontinue.dsl._template import condition, render, render_text, steps_read, template_names
from kontinue.runtime import (
    TTL_LABEL,
    ErrCanceled,
    ErrJobFailed,
    Error,
    ErrorKind,
    ExecutionContext,
    cleanup_on_cancel,
    delivered_cancel,
    import_file,
    jobs_with_ttl,
    shielded,
    step_runtime,
)
from kontinue.sdk import (
    ChildExecutionOptions,
    ExecuteOptions,
    JobOptions,
    PodOptions,
    PollOptions,
    ScriptOptions,
    SleepOptions,
    SuspendOptions,
    execute,
    execute_parallel,
    function,
    poll_until_named,
    run_job,
    run_pod,
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
    names: dict[str, Any] = Field(default_factory=dict)
    """Loop items in scope (``as`` name → item), for the steps of a forEach item."""

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
            **args.names,
        }
        self.scope: dict[str, Any] = dict(args.names)
        self.own: dict[str, Any] = {}
        self.failure: dict[str, Any] | None = None

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

    def done(self, name: str, outcome: dict[str, Any] | list[Any]) -> None:
        self.context["steps"][name] = outcome
        self.own[name] = outcome

    def steps(self, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            self.node(node)

    def node(self, node: dict[str, Any]) -> None:
        try:
            if node.get("forEach"):
                self.run_foreach(node)
            else:
                self.one(node)
        except Error as exc:
            if self.failure is None:
                self.failure = {"step": node["name"], "message": str(exc)}
            raise

    def when(self, node: dict[str, Any]) -> bool:
        """Whether the step's `when:` holds (True without one)."""
        when = node.get("when")
        if when is None:
            return True
        try:
            return condition(when, self.context)
        except TemplateError as exc:
            raise Error(
                f'step "{node["name"]}": cannot evaluate when: {exc}',
                kind=ErrorKind.VALIDATION,
                retryable=False,
            ) from None

    def one(self, node: dict[str, Any]) -> None:
        name = node["name"]
        if not self.when(node):
            self.done(name, {"phase": "Skipped", "result": None})
            return
        kind = node["type"]
        if kind != "call" and (node.get("retry") or node.get("timeout") or node.get("mutex")):
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
                **_naming(node),
                image=spec["image"],
                command=command,
                shell=shell,
                env=env,
                working_dir=spec.get("workingDir"),
                extra_labels=_ttl_label(node),
            ),
        )
        self.finish_pod(node, "script", result, spec.get("outputs"))

    def pod_spec(self, node: dict[str, Any], spec: Mapping[str, Any], what: str) -> Any:
        """Render a PodSpec; containers' command, args and env keep values literal."""
        if not isinstance(spec, Mapping):
            return self.render(node, spec, what)
        out = {}
        for key, value in spec.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                out[key] = [self.container(node, c, what) for c in value]
            else:
                out[key] = self.render(node, value, what)
        return out

    def container(self, node: dict[str, Any], container: Any, what: str) -> Any:
        if not isinstance(container, Mapping):
            return self.render(node, container, what)
        moved = ("command", "args", "env")
        out = self.render(node, {k: v for k, v in container.items() if k not in moved}, what)
        where = f"{what} container {container.get('name')!r}"
        argv = {k: container[k] for k in moved if k in container}
        out.update(self.guard(node, where, partial(render_container, argv, self.context)))
        return out

    def finish_pod(self, node: dict[str, Any], kind: str, result: Any, outputs: Any) -> None:
        outcome = pod_outcome(self.ktx, node["name"], result, outputs)
        self.done(node["name"], outcome)
        if not result.succeeded():
            summary = failure_summary(self.ktx, result)
            raise ErrJobFailed(
                f'{kind} step "{node["name"]}" failed with exit code {result.exit_code}: {summary}'
            )

    def run_pod(self, node: dict[str, Any]) -> None:
        spec = self.pod_spec(node, node["pod"]["spec"], "pod")
        result = run_pod(
            self.ktx,
            PodOptions(**_naming(node), spec=spec, extra_labels=_ttl_label(node)),
        )
        self.finish_pod(node, "pod", result, None)

    def run_job(self, node: dict[str, Any]) -> None:
        job = node["job"]["spec"]
        spec = self.render(node, {k: v for k, v in job.items() if k != "template"}, "job")
        if isinstance(job.get("template"), Mapping):
            template = job["template"]
            spec["template"] = {
                **self.render(node, {k: v for k, v in template.items() if k != "spec"}, "job"),
                "spec": self.pod_spec(node, template.get("spec") or {}, "job"),
            }
        result = run_job(
            self.ktx,
            JobOptions(**_naming(node), spec=spec, extra_labels=_ttl_label(node)),
        )
        self.done(node["name"], job_outcome(self.ktx, node["name"], result))
        if not result.succeeded():
            failed = next((p for p in reversed(result.pods) if not p.succeeded()), None)
            summary = failure_summary(self.ktx, failed) if failed else result.message
            raise ErrJobFailed(
                f'job step "{node["name"]}" failed ({result.failed_pods} failed pod'
                f"{'s' if result.failed_pods != 1 else ''}): {summary}"
            )

    def run_poll(self, node: dict[str, Any]) -> None:
        spec = node["poll"]
        check = poll_check(
            self.ktx,
            node["name"],
            spec,
            lambda v, what: self.render(node, v, what),
            lambda text: self.guard(
                node, "command", lambda: render_script(text, self.context, ["/bin/sh", "-c"])
            ),
        )
        poll_until_named(
            self.ktx,
            check,
            PollOptions(
                **_naming(node),
                interval=parse_duration(spec["interval"]),
            ),
        )
        self.done(node["name"], {"phase": "Succeeded", "result": None})

    def run_sleep(self, node: dict[str, Any]) -> None:
        duration = parse_duration(node["sleep"]["duration"])
        sleep_named(
            self.ktx,
            SleepOptions(
                **_naming(node),
                duration=duration,
            ),
        )
        self.done(node["name"], {"phase": "Completed", "result": None})

    def run_suspend(self, node: dict[str, Any]) -> None:
        spec = node.get("suspend") or {}
        display = self.render(node, spec.get("displayName"), "displayName")
        description = self.render(node, spec.get("description"), "description")
        resolution = suspend(
            self.ktx,
            SuspendOptions(
                name=node["name"],
                display_name=display or node.get("displayName") or node["name"],
                description=description or node.get("description"),
                inputs_schema=spec.get("inputs"),
            ),
        )
        self.done(
            node["name"],
            {
                "phase": "Completed",
                "result": None,
                "inputs": resolution.get("inputs") or {},
                "resolvedBy": resolution.get("resolvedBy"),
                "resolvedAt": resolution.get("resolvedAt"),
            },
        )

    def run_sequence(self, node: dict[str, Any]) -> None:
        self.steps(node["sequence"]["steps"])
        self.done(node["name"], {"phase": "Completed", "result": None})

    def run_parallel(self, node: dict[str, Any]) -> None:
        branches = node["parallel"]["branches"]
        if any(branch.get("needs") for branch in branches):
            self.graph(node, branches)
            return
        specs = [self.branch(branch) for branch in branches]
        results = execute_parallel(self.ktx, specs)
        for branch, branch_result in zip(branches, results, strict=True):
            self.child_done(branch, branch_result)
        self.done(
            node["name"],
            {"phase": "Completed", "result": [self.context["steps"][b["name"]] for b in branches]},
        )

    def run_dag(self, node: dict[str, Any]) -> None:
        self.graph(node, node["dag"]["tasks"])

    def branch(
        self,
        branch: dict[str, Any],
        names: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> ChildExecutionOptions:
        """A child Execution running one step (its retry and timeout go on the child)."""
        inner = {k: v for k, v in _without_limits(branch).items() if k not in ("needs", "forEach")}
        return ChildExecutionOptions(
            function=PIPELINE_FUNCTION,
            arguments=self.child_args(inner, names),
            options=self.options(branch, names, name or branch["name"]),
        )

    def options(
        self, node: dict[str, Any], names: Mapping[str, Any] | None = None, name: str | None = None
    ) -> ExecuteOptions:
        """The child Execution's options: its name, what a person sees, the step's limits."""
        return ExecuteOptions(
            name=name or node["name"],
            display_name=node.get("displayName") or name or node["name"],
            description=node.get("description"),
            retry=_retry(node),
            timeout=_timeout(node),
            mutex=self.mutex(node, names),
            ttl=ExecutionTTL(delete_after=_ttl(node)) if node.get("ttl") else None,
        )

    def graph(self, node: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        by_name = {task["name"]: task for task in tasks}

        def spec(task: Task, done: Mapping[str, TaskOutcome]) -> ChildExecutionOptions:
            for need in task.needs:
                self.merge(done[need])
            return self.branch(by_name[task.name])

        plan = [Task(t["name"], tuple(t.get("needs") or ())) for t in tasks]
        outcomes, error, failed = run_tasks(self.ktx, plan, spec)
        for task in plan:
            outcome = outcomes[task.name]
            if outcome.state == "ok":
                self.merge(outcome)
            elif task.name not in self.context["steps"]:
                self.done(task.name, _not_ok(outcome))
        if error is not None:
            self.failed_in(failed, error)
        self.done(
            node["name"],
            {"phase": "Completed", "result": [self.context["steps"][t.name] for t in plan]},
        )

    def failed_in(self, step: str | None, error: Error) -> NoReturn:
        """Raise a child's error, remembering which step failed for ``pipeline.error``."""
        if self.failure is None and step is not None:
            self.failure = {"step": step, "message": str(error)}
        raise error

    def merge(self, outcome: TaskOutcome) -> None:
        for step, value in ((outcome.result or {}).get("steps") or {}).items():
            if step not in self.own:
                self.done(step, value)

    def run_foreach(self, node: dict[str, Any]) -> None:
        loop = node["forEach"]
        name = node["name"]
        when = node.get("when")
        if when is not None and loop["as"] not in template_names(when):
            # a condition that does not read the item is decided once, for the whole loop
            if not self.when(node):
                self.done(name, [])
                return
            node = {**node, "when": None}
        items = self.render(node, loop["items"], "forEach")
        if not isinstance(items, list):
            shown = repr(items) if isinstance(items, str) else type(items).__name__
            raise Error(
                f'forEach of step "{name}" must give a list, got {shown[:200]}; a script can '
                "print a JSON list with outputs: json",
                kind=ErrorKind.VALIDATION,
                retryable=False,
            )
        if len(items) > LOOP_MAX:
            raise Error(
                f'forEach of step "{name}" gives {len(items)} items, more than {LOOP_MAX}',
                kind=ErrorKind.VALIDATION,
                retryable=False,
            )
        names = item_names(name, items)
        by_task = dict(zip(names, items, strict=True))

        def spec(task: Task, done: Mapping[str, TaskOutcome]) -> ChildExecutionOptions:
            scope = {loop["as"]: by_task[task.name]}
            return self.branch(node, scope, task.name)

        plan = [Task(n) for n in names]
        outcomes, error, failed = run_tasks(self.ktx, plan, spec, loop.get("maxParallel"))
        results = []
        for task, item in zip(plan, items, strict=True):
            outcome = outcomes[task.name]
            if outcome.state == "ok":
                steps = dict((outcome.result or {}).get("steps") or {})
                mine = dict(steps.pop(name, {"phase": "Completed", "result": None}))
                if steps:
                    mine["steps"] = steps
            else:
                mine = _not_ok(outcome)
            results.append({**mine, "item": item, "name": task.name})
        self.done(name, results)
        if error is not None:
            self.failed_in(failed, error)

    def run_call(self, node: dict[str, Any]) -> None:
        spec = node["call"]
        arguments = self.render(node, spec.get("with"), "with")
        opts = self.options(node)
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

    def mutex(
        self, node: dict[str, Any], names: Mapping[str, Any] | None = None
    ) -> ExecutionMutex | None:
        """The step's `mutex:`, rendered (with a loop item's `names`); None without one."""
        text = node.get("mutex")
        if not text:
            return None
        try:
            name = render_text(text, {**self.context, **(names or {})}).strip()
        except TemplateError as exc:
            raise Error(
                f'step "{node["name"]}": mutex: {exc}', kind=ErrorKind.VALIDATION, retryable=False
            ) from None
        if not name:
            raise Error(
                f'step "{node["name"]}": mutex {text!r} renders as an empty name',
                kind=ErrorKind.VALIDATION,
                retryable=False,
            )
        return ExecutionMutex(name=name)

    def as_child(self, node: dict[str, Any]) -> None:
        """A step with its own retry, timeout or mutex runs as a child Execution that has them."""
        inner = {k: v for k, v in _without_limits(node).items() if k != "when"}
        result = execute(
            self.ktx, PIPELINE_FUNCTION, self.child_args(inner), opts=self.options(node)
        )
        self.child_done(node, result)

    def child_done(self, node: dict[str, Any], result: Any) -> None:
        """Take over the outcomes a child Execution ran for `node` (None: a person skipped it)."""
        if result is None:
            self.done(node["name"], {"phase": "Skipped", "result": None})
        for step, outcome in (result or {}).get("steps", {}).items():
            self.done(step, outcome)

    def child_args(
        self, inner: dict[str, Any], names: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Arguments of a child Execution running `inner`: the plan, with only the outcomes
        of earlier steps its templates read (all of them when one reads `steps` dynamically),
        so a fan-out after a big step does not copy that step's output into every child."""
        plan = {**self.args.plan, "steps": [inner], "result": None, "finally": []}
        steps = self.context["steps"]
        reads = steps_read(inner)
        if reads is not None:
            steps = {k: v for k, v in steps.items() if k in reads}
        return {
            "plan": plan,
            "params": self.args.params,
            "steps": steps,
            "baseDir": self.args.base_dir,
            "branch": True,
            "names": {**self.scope, **(names or {})},
        }


def _naming(node: dict[str, Any]) -> dict[str, Any]:
    """The step options every SDK call takes from a node: its name and what a person sees."""
    return {
        "name": node["name"],
        "display_name": node.get("displayName"),
        "description": node.get("description"),
    }


def _not_ok(outcome: TaskOutcome) -> dict[str, Any]:
    if outcome.state == "failed":
        message = str(outcome.error) if outcome.error else "failed"
        return {"phase": "Failed", "result": None, "error": message[:2000]}
    return {"phase": "Skipped", "result": None, "reason": outcome.reason}


def _without_limits(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in ("retry", "timeout", "mutex")}


def _ttl(node: dict[str, Any]) -> timedelta | None:
    """The step's `ttl` (else `defaults.ttl`): how long its job or child Execution is kept."""
    ttl = node.get("ttl")
    return parse_duration(ttl) if ttl else None


def _ttl_label(node: dict[str, Any]) -> dict[str, str]:
    """The label that has the step's job removed `ttl` after it finished (see `_cleanup`)."""
    ttl = _ttl(node)
    return {} if ttl is None else {TTL_LABEL: str(math.ceil(ttl.total_seconds()))}


def _has_ttl(arguments: Any) -> bool:
    """Whether a pipeline's plan (or one it calls) gives any step a ttl."""
    plan = arguments.get("plan") if isinstance(arguments, Mapping) else None
    return '"ttl":' in json.dumps(plan)


jobs_with_ttl(PIPELINE_FUNCTION, _has_ttl)


def _retry(node: dict[str, Any]) -> ExecutionRetry | None:
    retry = node.get("retry")
    return ExecutionRetry.model_validate(retry) if retry else None


def _timeout(node: dict[str, Any]) -> ExecutionTimeout | None:
    timeout = node.get("timeout")
    if not timeout:
        return None
    return ExecutionTimeout.model_validate({k: v for k, v in timeout.items() if v is not None})


# A pipeline's children (branches, steps with their own retry or timeout, calls) are parts of
# it: `kontinue retry` of a failed pipeline runs its failed parts again and keeps the rest.
@function(
    PIPELINE_FUNCTION,
    description="Runs a compiled YAML pipeline (kontinue submit)",
    retry=ExecutionRetry(child_policy="RetryFailed"),
)
def run_pipeline(ktx: ExecutionContext, args: PipelineArgs) -> Any:
    """Run the plan's steps in order, then its finally steps; return the declared result.

    Templates render within a budget (see `kontinue.dsl._budget`), and a render stops as soon
    as the Execution is canceled, times out or its worker drains.
    """
    # the scope is read at each check: finally steps run in a scope of their own (shielded)
    with interruptible(lambda: ktx.context().cancelled()):
        try:
            return _run_pipeline(ktx, args)
        except RenderInterrupted:
            step_runtime(ktx).checkpoint()  # raises the reason: canceled, timed out, handed back
            raise


def _run_pipeline(ktx: ExecutionContext, args: PipelineArgs) -> Any:
    import_plan_modules(args.plan, args.base_dir)
    run = _Run(ktx, args)
    failure: Error | None = None
    canceled: CancelRequest | None = None
    top = args.plan["steps"]
    try:
        try:
            for index, node in enumerate(top):
                if not args.branch:  # a pipeline's progress counts its own top-level steps
                    _progress(ktx, index, len(top))
                run.node(node)
            if not args.branch:
                _progress(ktx, len(top), len(top))
        except RenderInterrupted:
            step_runtime(ktx).checkpoint()  # raises: canceled, timed out, handed back
            raise
    except Error as exc:
        if not args.plan.get("finally"):
            raise
        failure = exc
        # a cancel (from any client) is delivered here, or a child it canceled failed first
        canceled = delivered_cancel(ktx)
        if canceled is None and isinstance(exc, ErrCanceled):
            raise  # canceled at once (forced): no finally steps
    if args.branch:
        return {"steps": run.own}
    problems: list[str] = []
    if args.plan.get("finally"):
        # shielded: a (first) cancel does not stop the finally steps; a second one does
        with shielded(ktx):
            problems = _run_finally(ktx, run, args.plan["finally"], failure, canceled)
    if canceled is not None and problems:
        raise Error("; ".join(problems)[:2000], kind=ErrorKind.EXECUTION, retryable=False)
    if failure is not None:
        raise failure
    finally_failed = bool(problems)
    count = len(run.own)
    if not finally_failed:
        steps = f"{count} step{'s' if count != 1 else ''}"
        set_message(ktx, f"pipeline {args.plan.get('name')}: {steps} done")
    if args.plan.get("result") is not None:
        return run.render({"name": "result"}, args.plan["result"], "result")
    return {"steps": {k: _result_of(v) for k, v in run.context["steps"].items()}}


def _cleans_up(arguments: Any) -> bool:
    """A pipeline with finally steps runs them after a cancel (its `onCancel: Cleanup`)."""
    if not isinstance(arguments, Mapping) or arguments.get("branch"):
        return False
    plan = arguments.get("plan")
    return isinstance(plan, Mapping) and bool(plan.get("finally"))


cleanup_on_cancel(PIPELINE_FUNCTION, _cleans_up)


def _progress(ktx: ExecutionContext, current: int, total: int) -> None:
    """Show `current/total` top-level steps; a replay of steps already done writes nothing,
    so the status does not run through 0/6, 1/6... again after each wake-up."""
    rt = step_runtime(ktx)
    rt.mark_progress_set()  # fan-outs inside a step keep their progress to themselves
    if not rt.replaying:
        rt.write_progress(Progress(current=current, max=total))


def _result_of(outcome: Any) -> Any:
    if isinstance(outcome, list):
        return [_result_of(item) for item in outcome]
    return outcome.get("result") if isinstance(outcome, dict) else outcome


def _run_finally(
    ktx: ExecutionContext,
    run: _Run,
    nodes: list[dict[str, Any]],
    failure: Error | None,
    canceled: CancelRequest | None,
) -> list[str]:
    """Run every finally step, whatever happened; a failing one does not stop the others.

    They see `pipeline.phase` (Succeeded, Failed or Canceled), `pipeline.error` (the failed
    step and its message) and, after a cancel, `pipeline.reason`; `steps.*` holds the
    outcomes of the main steps that finished. Returns what went wrong, one line a step.
    """
    error = None
    if failure is not None and canceled is None:
        error = run.failure or {"step": None, "message": str(failure)}
        error = {**error, "message": str(error["message"])[:2000]}
    phase = "Canceled" if canceled is not None else "Failed" if failure else "Succeeded"
    run.scope["pipeline"] = run.context["pipeline"] = {
        "name": run.args.plan.get("name"),
        "phase": phase,
        "error": error,
        "reason": canceled.reason if canceled is not None else None,
    }
    problems = []
    for node in nodes:
        try:
            run.node(node)
        except Error as exc:
            problems.append(f'finally step "{node["name"]}" failed: {exc}')
    if problems and canceled is None:
        set_message(ktx, "; ".join(problems)[:2000])
    return problems
