"""Check a pipeline document against pipeline.schema.json and word each violation for people."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kontinue.api._duration import DurationError, parse_duration
from kontinue.dsl._errors import Diagnostic
from kontinue.dsl._loader import Document, pointer, pointer_parts
from kontinue.dsl._steps import KINDS, NAME_MAX, StepInfo, did_you_mean, name_fix

__all__ = ["Locator", "describe_value", "pipeline_schema", "schema_diagnostics"]

_NAME_RULE = (
    f"use lowercase letters, digits and '-', starting and ending with a letter or digit, "
    f"at most {NAME_MAX} characters"
)
_REQUIRED_HINTS = {
    "apiVersion": "add apiVersion: kontinue.cloud/v1alpha1 at the top of the file",
    "kind": "add kind: Pipeline at the top of the file",
    "metadata": "add metadata: {name: my-pipeline}",
    "name": "add name: followed by a lowercase name such as my-pipeline",
    "steps": "add steps: with at least one step",
    "image": "add image: with a container image, e.g. image: alpine:3.20",
    "command": "add command: with the script to run, e.g. command: echo hello",
}
_UNKNOWN_HINTS = {
    ("", "name"): "the pipeline's name goes under metadata: name",
    ("", "description"): "the description goes under metadata: description",
    ("", "labels"): "labels go under metadata: labels",
    ("", "parameters"): "did you mean 'params'?",
    ("step", "args"): "arguments of a call go under with:",
    ("step", "arguments"): "arguments of a call go under with:",
    ("step", "image"): "image belongs inside script:, e.g. script: {image: ..., command: ...}",
    ("step", "command"): "command belongs inside script:, e.g. script: {image: ..., command: ...}",
    ("step", "retries"): "write retry: {retries: 3}",
    ("step", "if"): "did you mean 'when'?",
    ("step", "steps"): "did you mean 'sequence' (run in order) or 'parallel' (run together)?",
}
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


@functools.cache
def pipeline_schema() -> dict[str, Any]:
    """Return the pipeline JSON Schema shipped as kontinue/dsl/pipeline.schema.json."""
    text = resources.files("kontinue.dsl").joinpath("pipeline.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(pipeline_schema())


def describe_value(value: Any) -> str:
    """Describe a JSON value for a message: ``the string 'x'``, ``the number 3``, ``a list``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    return "a list" if isinstance(value, list) else "a mapping"


class Locator:
    """Names places in a document for messages: ``retry.retries of step 'deploy'``."""

    def __init__(self, steps: list[StepInfo]) -> None:
        self.steps = steps
        self._by_ptr = {step.ptr: step for step in steps}

    def step_at(self, ptr: str) -> StepInfo | None:
        """Return the innermost step containing ``ptr``, if any."""
        parts = pointer_parts(ptr)
        while parts:
            step = self._by_ptr.get(pointer(*parts))
            if step is not None:
                return step
            parts.pop()
        return None

    def where(self, ptr: str) -> str:
        """Name the place ``ptr`` points at."""
        step = self.step_at(ptr)
        if step is None:
            return _dotted(pointer_parts(ptr)) or "the pipeline"
        rest = _dotted(pointer_parts(ptr)[len(pointer_parts(step.ptr)) :])
        return f"{rest} of step '{step.name}'" if rest else f"step '{step.name}'"


def _dotted(parts: list[str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def _expected(error: ValidationError) -> Any:
    """The value of the schema keyword that failed (e.g. the list of `required` keys)."""
    return error.validator_value


def _is_duration(error: ValidationError) -> bool:
    duration = pipeline_schema()["$defs"]["duration"]
    return isinstance(error.schema, Mapping) and error.schema.get("pattern") == duration["pattern"]


def _is_name(error: ValidationError) -> bool:
    name = pipeline_schema()["$defs"]["name"]
    return isinstance(error.schema, Mapping) and error.schema.get("pattern") == name["pattern"]


def schema_diagnostics(doc: Document, locate: Locator) -> list[Diagnostic]:
    """Validate ``doc.data`` against the pipeline schema and translate every violation."""
    seen: set[tuple[str, str]] = set()
    found: list[Diagnostic] = []
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        for key, diagnostic in _translate(doc, locate, error):
            if key not in seen:
                seen.add(key)
                found.append(diagnostic)
    return found


def _translate(
    doc: Document, locate: Locator, error: ValidationError
) -> Iterator[tuple[tuple[str, str], Diagnostic]]:
    ptr = pointer(*error.absolute_path)
    where = locate.where(ptr)
    kind, value, expected = str(error.validator), error.instance, _expected(error)
    if kind == "additionalProperties" and isinstance(value, Mapping):
        schema: Any = error.schema
        allowed = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extras = [k for k in value if k not in allowed and not any(p.search(k) for p in patterns)]
        for extra in extras:
            yield (ptr + pointer(extra), "unknown"), _unknown_key(doc, locate, ptr, extra, allowed)
    elif kind == "required" and isinstance(value, Mapping):
        for missing in (k for k in expected if k not in value):
            hint = _REQUIRED_HINTS.get(missing)
            message = f"{where} is missing the required key '{missing}'"
            yield (ptr, f"required:{missing}"), doc.diagnostic(ptr, message, hint)
    elif kind == "oneOf":
        if isinstance(value, Mapping):  # a step that is not a mapping has a type error already
            yield from _one_kind(doc, locate, ptr, value)
    elif kind == "dependentRequired" and isinstance(value, Mapping):
        for key, needed in expected.items():
            if key not in value or all(n in value for n in needed):
                continue
            if key == "with":
                message = f"'with' in {where} gives arguments, but the step has no call"
                hint = "add call: with a function name or a pipeline file, or remove with"
            else:
                message = f"'{key}' in {where} only works with forEach"
                hint = "add forEach: with the list to repeat the step over, or remove it"
            yield (ptr, key), doc.diagnostic(ptr + pointer(key), message, hint)
    elif _is_name(error) and kind in ("pattern", "maxLength"):
        yield (ptr, "name"), _bad_name(doc, ptr, value)
    elif _is_duration(error):
        yield (ptr, "duration"), _bad_duration(doc, where, ptr, value)
    else:
        yield (ptr, kind), _other(doc, locate, error, ptr, where)


def _unknown_key(
    doc: Document, locate: Locator, ptr: str, key: str, allowed: list[str]
) -> Diagnostic:
    step = locate.step_at(ptr)
    is_step = step is not None and step.ptr == ptr
    place = "at the top of the pipeline" if not ptr else f"in {locate.where(ptr)}"
    hint = _UNKNOWN_HINTS.get(("step" if is_step else ptr, key)) or did_you_mean(key, allowed)
    hint = hint or f"allowed keys are {', '.join(allowed)}"
    return doc.diagnostic(ptr + pointer(key), f"unknown key '{key}' {place}", hint)


def _one_kind(
    doc: Document, locate: Locator, ptr: str, value: Mapping[str, Any]
) -> Iterator[tuple[tuple[str, str], Diagnostic]]:
    present = [kind for kind in KINDS if kind in value]
    typo = any(did_you_mean(key, KINDS) for key in value if key not in _STEP_KEYS)
    if not present and typo:
        return  # the misspelt kind is reported as an unknown key with the right spelling
    message = f"{locate.where(ptr)} must have exactly one of {', '.join(KINDS)}"
    if present:
        hint = f"it has {' and '.join(present)}; split it into one step per kind"
    else:
        hint = "it has none; add the work it does, e.g. sleep: 5m or script: {...}"
    yield (ptr, "kinds"), doc.diagnostic(ptr, message, hint)


_STEP_KEYS = {
    "name",
    "displayName",
    "description",
    "retry",
    "timeout",
    "when",
    "with",
    "forEach",
    "as",
    "maxParallel",
    "needs",
    *KINDS,
}


def _bad_name(doc: Document, ptr: str, value: Any) -> Diagnostic:
    owner = "pipeline name" if ptr == "/metadata/name" else "step name"
    text = str(value)
    if len(text) > NAME_MAX:
        message = f"{owner} '{text}' is longer than {NAME_MAX} characters"
    else:
        message = f"{owner} '{text}' is not a valid Kubernetes name"
    return doc.diagnostic(ptr, message, f"{_NAME_RULE}; e.g. '{name_fix(text)}'", value=True)


def _bad_duration(doc: Document, where: str, ptr: str, value: Any) -> Diagnostic:
    if isinstance(value, int | float) and not isinstance(value, bool):
        message = f"{where} must be a duration string such as 90s, 5m or 1h30m, not a number"
        return doc.diagnostic(ptr, message, f"write '{value}s' for {value} seconds", value=True)
    if not isinstance(value, str):
        got = describe_value(value)
        message = f"{where} must be a duration such as 90s, 5m or 1h30m, got {got}"
        return doc.diagnostic(ptr, message, None, value=True)
    try:
        parse_duration(value)
        reason, hint = f"{value!r} is not a duration", "remove the spaces around it"
    except DurationError as exc:
        reason, _, hint = str(exc).partition("; ")
    return doc.diagnostic(ptr, f"{where} is invalid: {reason}", hint or None, value=True)


def _other(
    doc: Document, locate: Locator, error: ValidationError, ptr: str, where: str
) -> Diagnostic:
    kind, value, expected = str(error.validator), error.instance, _expected(error)
    got = describe_value(value)
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        step = locate.step_at(ptr)
        if step is not None and step.ptr == ptr:
            message = f"{where} must be a mapping such as {{name: ..., script: ...}}, got {got}"
            return doc.diagnostic(ptr, message, "write the step's keys under the '-'")
        return doc.diagnostic(
            ptr, f"{where} must be {wanted}, got {got}", _type_hint(ptr, names, value), value=True
        )
    if kind == "const":
        message = f"{where} must be '{expected}', got {got}"
        hint: str | None = f"write {_dotted(pointer_parts(ptr))}: {expected}"
        return doc.diagnostic(ptr, message, hint, value=True)
    if kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        hint = did_you_mean(str(value), [str(c) for c in expected]) if value is not None else None
        return doc.diagnostic(ptr, f"{where} must be one of {choices}, got {got}", hint, value=True)
    if kind == "minimum":
        message = f"{where} must be {expected} or more, got {got}"
        return doc.diagnostic(ptr, message, None, value=True)
    if kind == "minItems":
        message = f"{where} is empty"
        what = "branch" if ptr.endswith("/parallel") else "item" if "shell" in ptr else "step"
        return doc.diagnostic(ptr, message, f"add at least one {what}")
    if kind == "minLength":
        return doc.diagnostic(ptr, f"{where} must not be empty", None, value=True)
    return doc.diagnostic(ptr, f"{where} is invalid: {error.message}", None, value=True)


def _type_hint(ptr: str, expected: list[str], value: Any) -> str | None:
    if value is None:
        return "write a value after the colon"
    if expected == ["string"] and isinstance(value, bool | int | float):
        shown = json.dumps(value)
        return f'quote it to make it a string: "{shown}"'
    if ptr.endswith("/script") and isinstance(value, str):
        return f"write script: {{image: alpine:3.20, command: {value}}}"
    return None
