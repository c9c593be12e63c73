"""`kontinue validate` and `kontinue submit`: pipelines from YAML files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kontinue.api import ExecutionMutex
from kontinue.cli._args import load_args_file
from kontinue.cli._dryrun import dry_run
from kontinue.cli._errors import UsageError
from kontinue.cli._imports import import_user_code
from kontinue.dsl import (
    ArgumentsError,
    PipelineError,
    Plan,
    TemplateError,
    compile_pipeline,
    parse_param_assignments,
    render_text,
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


def _pipeline_files(targets: Sequence[str]) -> list[str]:
    """Files named, plus every *.yaml/*.yml under named directories (sorted, recursively)."""
    files: list[str] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
            )
            files.extend(_pipelines_only(found))
        else:
            files.append(target)
    return files


def _pipelines_only(files: list[str]) -> list[str]:
    """In a directory, only the YAML files that say ``kind: Pipeline`` (not Helm values, CI)."""
    kept = []
    for file in files:
        try:
            head = Path(file).read_text(encoding="utf-8", errors="replace")[:4096]
        except OSError:
            kept.append(file)
            continue
        if any(line.strip().replace(" ", "") == "kind:Pipeline" for line in head.splitlines()):
            kept.append(file)
    return kept


def validate(args: argparse.Namespace) -> int:
    """Check pipeline files and directories; print every problem of every file.

    Text: ``FILE:LINE:COL: message; hint`` on stderr, ``FILE: valid`` on stdout. JSON (for
    editors and CI annotations): one document on stdout, ``{"valid": bool, "files": [{"file",
    "valid", "problems": [{"file", "line", "column", "message", "hint"}]}]}``.
    Exit 0 when all are valid, 2 when any is invalid (or a directory holds no pipeline).
    """
    files = _pipeline_files(args.files)
    if not files:
        raise UsageError(f"no pipeline files (kind: Pipeline) in {', '.join(args.files)}")
    report = []
    for file in files:
        problems = validate_file(file)
        report.append((file, problems))
        if args.format == "json":
            continue
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        if not problems:
            sys.stdout.write(f"{file}: valid\n")
    bad = sum(1 for _, problems in report if problems)
    if args.format == "json":
        doc = {
            "valid": bad == 0,
            "files": [
                {
                    "file": file,
                    "valid": not problems,
                    "problems": [
                        {
                            "file": p.file,
                            "line": p.line,
                            "column": p.col,
                            "message": p.message,
                            "hint": p.hint,
                        }
                        for p in problems
                    ],
                }
                for file, problems in report
            ],
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif len(files) > 1:
        sys.stderr.write(f"{len(files) - bad} of {len(files)} pipeline files valid\n")
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
        elif kind in ("parallel", "dag", "sequence"):
            key = {"parallel": "branches", "dag": "tasks", "sequence": "steps"}[kind]
            out.extend(_calls(node[kind][key]))
    return out


def prepare(args: argparse.Namespace) -> tuple[Plan, dict[str, Any], str]:
    """Validate and compile `args.file` with its params, as `submit` does before it runs.

    Returns the plan, the validated params and the pipeline's directory. Every problem is
    printed (FILE:LINE:COL) and raises a usage error (exit 2).
    """
    plan = _compile(args.file)
    base_dir = str(Path(args.file).resolve().parent)
    params: dict[str, Any] = (
        load_args_file(args.params_file, "params file") if args.params_file else {}
    )
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
    calls = _calls(plan.steps) + _calls(plan.get("finally") or [])
    missing = [(step, fn) for step, fn in calls if fn not in REGISTRY]
    if missing:
        for step, fn in missing:
            sys.stderr.write(
                f"{args.file}: step {step!r} calls function {fn!r}, which is not registered; "
                "list its module under imports: in the pipeline, or pass --import\n"
            )
        raise InvalidPipeline("")
    return plan, params, base_dir


def pipeline_mutex(file: str, plan: Plan, params: Mapping[str, Any]) -> ExecutionMutex | None:
    """The pipeline's `mutex:`, its template rendered over the params; None without one."""
    text = plan.get("mutex")
    if not text:
        return None
    try:
        name = render_text(str(text), {"params": params}).strip()
    except TemplateError as exc:
        raise UsageError(f"{file}: mutex: {exc}") from None
    if not name:
        raise UsageError(f"{file}: mutex: {text!r} renders as an empty name with these params")
    return ExecutionMutex(name=name)


def submit(args: argparse.Namespace, run: Any) -> int:
    """Validate, compile, store the plan on a new Execution and (embedded) run it."""
    plan, params, base_dir = prepare(args)
    mutex = pipeline_mutex(args.file, plan, params)
    if getattr(args, "dry_run", False):
        sys.stdout.write(dry_run(plan, params, args.output or "yaml"))
        sys.stderr.write(f"{args.file}: valid; dry run, nothing was submitted\n")
        return 0
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
            mutex=mutex,
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
