"""Size caps on what an Execution keeps: arguments, result, step outcomes and gate inputs.

Every backend checks them on write, so a value too large is refused with the same message on
the embedded store and on Kubernetes, before a huge object is written (or copied into every
status write). The caps, each configurable by environment variable:

* `KONTINUE_MAX_ARGUMENT_BYTES` (1 MiB): an Execution's arguments as JSON (for a pipeline, its
  params: the plan is bounded by `KONTINUE_MAX_PIPELINE_BYTES`); also the largest arguments
  or params file the CLI reads.
* `KONTINUE_MAX_RESULT_BYTES` (1,000,000): a function's result, and one journal entry (a
  step's recorded outcome or return value). The default is what one ConfigMap of the
  Kubernetes journal holds, so both stores accept the same values.
* `KONTINUE_MAX_INPUT_BYTES` (64 KiB): the inputs given to resume one gate (Suspension).

A script's stdout is not capped here: its outcome keeps the last 64 KiB (`dsl._outcomes`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from kontinue.store._errors import ValueTooLargeError

__all__ = [
    "JOURNAL_VALUE_BYTES",
    "check_execution",
    "check_inputs",
    "check_journal_entry",
    "max_argument_bytes",
    "max_input_bytes",
    "max_result_bytes",
]

JOURNAL_VALUE_BYTES = 1_000_000
"""The most one Kubernetes journal entry holds: a ConfigMap holds at most 1 MiB of data."""

_PIPELINE_FUNCTION = "kontinue.pipeline"
_BY_REFERENCE = "pass big data by reference (a path or a URL), not by value"


def _env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        return default
    return value if value > 0 else default


def max_argument_bytes() -> int:
    """`KONTINUE_MAX_ARGUMENT_BYTES`, default 1 MiB."""
    return _env("KONTINUE_MAX_ARGUMENT_BYTES", 1024 * 1024)


def max_result_bytes() -> int:
    """`KONTINUE_MAX_RESULT_BYTES`, default 1,000,000 (the Kubernetes journal's entry)."""
    return _env("KONTINUE_MAX_RESULT_BYTES", JOURNAL_VALUE_BYTES)


def max_input_bytes() -> int:
    """`KONTINUE_MAX_INPUT_BYTES`, default 64 KiB."""
    return _env("KONTINUE_MAX_INPUT_BYTES", 64 * 1024)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def check_execution(body: Mapping[str, Any], *, spec: bool, status: bool) -> None:
    """Refuse an Execution write whose arguments (`spec`) or result (`status`) is too large.

    Raises:
        ValueTooLargeError: naming the Execution, the size, the limit and its variable.
    """
    if body.get("kind") != "Execution":
        return
    meta = body.get("metadata") or {}
    name = meta.get("name") or f"{meta.get('generateName', '')}*"
    if spec:
        arguments = (body.get("spec") or {}).get("arguments")
        what = "arguments"
        if (body.get("spec") or {}).get("function") == _PIPELINE_FUNCTION and isinstance(
            arguments, Mapping
        ):
            arguments, what = arguments.get("params"), "params"
        what = f'the {what} of Execution "{name}" are'
        _refuse(arguments, max_argument_bytes(), what, "KONTINUE_MAX_ARGUMENT_BYTES", _BY_REFERENCE)
    if status:
        result = (body.get("status") or {}).get("result")
        what = f'the result of Execution "{name}" is'
        _refuse(result, max_result_bytes(), what, "KONTINUE_MAX_RESULT_BYTES")


def _refuse(value: Any, limit: int, what: str, variable: str, fix: str = "") -> None:
    """Raise ValueTooLargeError when `value` as JSON is longer than `limit` bytes."""
    if value is None:
        return
    size = _size(value)
    if size > limit:
        raise ValueTooLargeError(
            f"{what} {size:,} bytes as JSON, over the limit of {limit:,} ({variable})"
            + (f"; {fix}" if fix else "")
        )


def check_journal_entry(name: str, entry: Mapping[str, Any], size: int, limit: int) -> None:
    """Refuse a journal entry (a step's outcome or return value) of `size` bytes over `limit`.

    Raises:
        ValueTooLargeError: naming the step, the Execution, the size and the limit.
    """
    if size <= limit:
        return
    step = entry.get("name", entry.get("seq"))
    raise ValueTooLargeError(
        f'step "{step}" of Execution "{name}" recorded {size:,} bytes, over the limit of '
        f"{limit:,} per step (KONTINUE_MAX_RESULT_BYTES; the Kubernetes store keeps at most "
        f"{JOURNAL_VALUE_BYTES:,}). Return a smaller value, or store the data elsewhere (an "
        "object store, a volume) and return where it is"
    )


def check_inputs(execution: str, step: str, inputs: Any) -> None:
    """Refuse gate inputs larger than `KONTINUE_MAX_INPUT_BYTES`.

    Raises:
        ValueTooLargeError: naming the gate's step and Execution, the size and the limit.
    """
    what = f'the inputs for step "{step}" of Execution "{execution}" are'
    _refuse(inputs, max_input_bytes(), what, "KONTINUE_MAX_INPUT_BYTES", _BY_REFERENCE)
