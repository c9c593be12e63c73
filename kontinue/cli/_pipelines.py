"""`kontinue validate` and `kontinue submit`: pipelines from YAML files."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.api import ExecutionMutex
from kontinue.cli._args import load_args_file
from kontinue.cli._dryrun import dry_run
from kontinue.cli._errors import UsageError
from kontinue.cli._imports import import_user_code
from kontinue.dsl import (
    ArgumentsError,
    PipelineError,
    Plan,
    parse_param_assignments,
    validate_file,
)
from kontinue.store import AlreadyExistsError

if TYPE_CHECKING:
    from kontinue.dsl.submit import Submission

__all__ = ["PIPELINE_LABEL", "prepare", "submit", "validate"]

PIPELINE_LABEL = "kontinue.cloud/pipeline"  # the same as kontinue.dsl.submit.PIPELINE_LABEL


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


def _submission(args: argparse.Namespace) -> Submission:
    """Compile `args.file` with its params and check its functions.

    The checks are `kontinue.dsl.submit`'s, which the server's API makes too. Every problem
    is printed (FILE:LINE:COL) and raises a usage error (exit 2).
    """
    from kontinue.dsl.submit import SubmitError, check_functions, compile_submission

    file = args.file
    if not Path(file).is_file():
        raise UsageError(f"pipeline file {file} does not exist")
    params: dict[str, Any] = (
        load_args_file(args.params_file, "params file") if args.params_file else {}
    )
    try:
        params.update(parse_param_assignments(args.params))
    except ValueError as exc:
        raise UsageError(f"{file}: {exc}") from None
    try:
        submission = compile_submission(file, params)
    except PipelineError as exc:
        for diagnostic in exc.diagnostics:
            sys.stderr.write(f"{diagnostic}\n")
        count = len(exc.diagnostics)
        sys.stderr.write(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was run\n")
        raise InvalidPipeline("") from None
    except ArgumentsError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{file}: {problem}\n")
        raise InvalidPipeline("") from None
    import_user_code(args.imports)
    try:
        check_functions(submission)
    except SubmitError as exc:
        if len(exc.problems) == 1 and ": imports: " in exc.problems[0]:
            raise UsageError(exc.problems[0]) from None
        for problem in exc.problems:
            sys.stderr.write(f"{problem}\n")
        raise InvalidPipeline("") from None
    return submission


def prepare(args: argparse.Namespace) -> tuple[Plan, dict[str, Any], str]:
    """Validate and compile `args.file` with its params, as `submit` does before it runs.

    Returns the plan, the validated params and the pipeline's directory. Every problem is
    printed (FILE:LINE:COL) and raises a usage error (exit 2).
    """
    submission = _submission(args)
    return submission.plan, submission.params, submission.base_dir


def pipeline_mutex(file: str, plan: Plan, params: Mapping[str, Any]) -> ExecutionMutex | None:
    """The pipeline's `mutex:`, its template rendered over the params; None without one."""
    from kontinue.dsl.submit import SubmitError, render_mutex

    try:
        return render_mutex(file, plan, params)
    except SubmitError as exc:
        raise UsageError(str(exc)) from None


def submit(args: argparse.Namespace, run: Any) -> int:
    """Validate, compile, store the plan on a new Execution and (embedded) run it."""
    from kontinue.dsl.submit import start_pipeline

    submission = _submission(args)
    plan, params = submission.plan, submission.params
    mutex = pipeline_mutex(args.file, plan, params)
    if getattr(args, "dry_run", False):
        sys.stdout.write(dry_run(plan, params, args.output or "yaml"))
        sys.stderr.write(f"{args.file}: valid; dry run, nothing was submitted\n")
        return 0
    from kontinue.cli._commands import _store

    store = _store(args, create=True)
    try:
        ex = start_pipeline(
            store, submission, name=args.name, namespace=args.namespace, mutex=mutex
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
