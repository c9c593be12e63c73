"""`kontinue validate` and `kontinue submit`: pipelines from YAML files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kontinue.cli._args import load_args_file
from kontinue.cli._errors import UsageError
from kontinue.cli._imports import import_user_code
from kontinue.dsl import (
    ArgumentsError,
    PipelineError,
    Plan,
    compile_pipeline,
    parse_param_assignments,
    validate_arguments,
    validate_file,
)
from kontinue.dsl._interpreter import PIPELINE_FUNCTION, import_plan_modules
from kontinue.runtime import REGISTRY, Error, start_execution
from kontinue.store import AlreadyExistsError

__all__ = ["PIPELINE_LABEL", "prepare", "submit", "validate"]

PIPELINE_LABEL = "kontinue.cloud/pipeline"


class InvalidPipeline(UsageError):
    """Diagnostics already printed; exit 2 without another line."""


def validate(args: argparse.Namespace) -> int:
    """Check pipeline files; print every problem as FILE:LINE:COL: message."""
    bad = 0
    for file in args.files:
        problems = validate_file(file)
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        if problems:
            bad += 1
        else:
            sys.stdout.write(f"{file}: valid\n")
    return 2 if bad else 0


def _compile(file: str) -> Plan:
    if not Path(file).is_file():
        raise UsageError(f"pipeline file {file} does not exist")
    try:
        return compile_pipeline(file)
    except PipelineError as exc:
        for problem in exc.diagnostics:
            sys.stderr.write(f"{problem}\n")
        count = len(exc.diagnostics)
        sys.stderr.write(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was run\n")
        raise InvalidPipeline("") from None


def _calls(nodes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for node in nodes:
        kind = node["type"]
        if kind == "call" and "function" in node["call"]:
            out.append((node["name"], node["call"]["function"]))
        elif kind == "call":
            out.extend(_calls(node["call"]["pipeline"]["steps"]))
        elif kind in ("parallel", "sequence"):
            key = "branches" if kind == "parallel" else "steps"
            out.extend(_calls(node[kind][key]))
    return out


def prepare(args: argparse.Namespace) -> tuple[Plan, dict[str, Any], str]:
    """Validate and compile `args.file` with its params, as `submit` does before it runs.

    Returns the plan, the validated params and the pipeline's directory. Every problem is
    printed (FILE:LINE:COL) and raises a usage error (exit 2).
    """
    plan = _compile(args.file)
    base_dir = str(Path(args.file).resolve().parent)
    params: dict[str, Any] = load_args_file(args.params_file) if args.params_file else {}
    try:
        params.update(parse_param_assignments(args.params))
    except ValueError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    try:
        params = validate_arguments(plan, params)
    except ArgumentsError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{args.file}: {problem}\n")
        raise InvalidPipeline("") from None
    import_user_code(args.imports)
    try:
        import_plan_modules(plan, base_dir)
    except (Error, ImportError) as exc:
        raise UsageError(f"{args.file}: imports: {exc}") from None
    missing = [(step, fn) for step, fn in _calls(plan.steps) if fn not in REGISTRY]
    if missing:
        for step, fn in missing:
            sys.stderr.write(
                f"{args.file}: step {step!r} calls function {fn!r}, which is not registered; "
                "list its module under imports: in the pipeline, or pass --import\n"
            )
        raise InvalidPipeline("")
    return plan, params, base_dir


def submit(args: argparse.Namespace, run: Any) -> int:
    """Validate, compile, store the plan on a new Execution and (embedded) run it."""
    plan, params, base_dir = prepare(args)
    from kontinue.cli._commands import _store

    store = _store(args, create=True)
    try:
        ex = start_execution(
            store,
            PIPELINE_FUNCTION,
            {"plan": dict(plan), "params": params, "baseDir": base_dir},
            name=args.name,
            generate_name=f"{plan.name}-",
            namespace=args.namespace,
            labels={**(plan.get("labels") or {}), PIPELINE_LABEL: plan.name},
            display_name=plan.name,
            description=plan.get("description"),
        )
    except AlreadyExistsError:
        raise UsageError(
            f"an Execution named {args.name!r} already exists; choose another --name"
        ) from None
    name = ex.metadata.name
    sys.stderr.write(f"pipeline {plan.name} submitted as Execution {name}\n")
    if args.no_wait:
        print(name)
        return 0
    code: int = run(store, args, name)
    return code
