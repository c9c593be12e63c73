"""`kontinue resume NAME STEP --input k=v`: check the gate's inputs, say who resolved it.

Which gate NAME STEP means is found by `kontinue.cli._resume`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from kontinue.api import Suspension
from kontinue.cli._args import load_args_file
from kontinue.cli._errors import UsageError

__all__ = ["gate_inputs", "resolver"]


def resolver() -> str:
    """Who is resuming: the login name, and through what."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user} (kontinue resume)"


def gate_inputs(args: argparse.Namespace, gate: Suspension | None) -> dict[str, Any] | None:
    """The inputs given with --input/--inputs-file, checked against the gate's schema.

    Returns None when the gate takes no inputs and none were given.

    Raises:
        UsageError: an input is malformed or breaks the schema (exit 2; the gate stays open).
    """
    from kontinue.dsl import ArgumentsError, parse_param_assignments
    from kontinue.dsl._inputs import validate_inputs

    given = bool(args.inputs or args.inputs_file)
    values: dict[str, Any] = load_args_file(args.inputs_file) if args.inputs_file else {}
    try:
        values.update(parse_param_assignments(args.inputs))
    except ArgumentsError as exc:
        raise UsageError("; ".join(p.replace("param", "input") for p in exc.problems)) from None
    if gate is None:
        if given:
            raise UsageError("name the step the inputs are for: kontinue resume NAME STEP --input")
        return None
    step = gate.spec.step
    if gate.spec.inputs is None:
        if given:
            raise UsageError(f'step "{step}" takes no inputs; resume it without --input')
        return None
    try:
        return validate_inputs(gate.spec.inputs, values)
    except ArgumentsError as exc:
        for problem in exc.problems:
            sys.stderr.write(f'kontinue: error: step "{step}": {problem}\n')
        hint = " ".join(f"--input {k}=..." for k in (gate.spec.inputs.get("properties") or {}))
        raise UsageError(
            f'the gate "{step}" stays open; resume it with valid inputs, e.g. {hint}'.rstrip()
        ) from None
