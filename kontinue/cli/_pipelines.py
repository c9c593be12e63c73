"""`kontinue validate` and `kontinue submit`: pipelines from YAML files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.cli._args import load_args_file
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


def _submission(args: argparse.Namespace) -> Submission:
    """Compile `args.file` with its params and check its functions.

    The checks are `kontinue.dsl.submit`'s, which the server's API makes too. Every problem
    is printed (FILE:LINE:COL) and raises a usage error (exit 2).
    """
    from kontinue.dsl.submit import SubmitError, check_functions, compile_submission

    file = args.file
    if not Path(file).is_file():
        raise UsageError(f"pipeline file {file} does not exist")
    params: dict[str, Any] = load_args_file(args.params_file) if args.params_file else {}
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

    Returns the plan, the validated params and the pipeline's directory.
    """
    submission = _submission(args)
    return submission.plan, submission.params, submission.base_dir


def submit(args: argparse.Namespace, run: Any) -> int:
    """Validate, compile, store the plan on a new Execution and (embedded) run it."""
    from kontinue.dsl.submit import start_pipeline

    submission = _submission(args)
    from kontinue.cli._commands import _store

    store = _store(args, create=True)
    try:
        ex = start_pipeline(store, submission, name=args.name, namespace=args.namespace)
    except AlreadyExistsError:
        raise UsageError(
            f"an Execution named {args.name!r} already exists; choose another --name"
        ) from None
    name = ex.metadata.name
    sys.stderr.write(f"pipeline {submission.plan.name} submitted as Execution {name}\n")
    if args.no_wait:
        print(name)
        return 0
    code: int = run(store, args, name)
    return code
