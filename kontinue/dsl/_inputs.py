"""Approval inputs: check a suspend step's ``inputs`` schema, and the values a person gives."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from kontinue.dsl._arguments import validate_arguments
from kontinue.dsl._errors import Diagnostic
from kontinue.dsl._loader import Document, pointer
from kontinue.dsl._steps import StepInfo, did_you_mean

__all__ = ["inputs_diagnostics", "validate_inputs"]


def validate_inputs(schema: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check what a person resuming a gate gives against the gate's ``inputs`` schema.

    Defaults are filled in; an input the schema does not declare is refused (a typo must not
    pass silently), as for params.

    Raises:
        ArgumentsError: one sentence per problem, e.g. ``input 'regions' is required``.
    """
    return validate_arguments({"params": schema or {"type": "object"}}, values, noun="input")


def inputs_diagnostics(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    """Every problem of every ``suspend.inputs`` schema, at its place."""
    found: list[Diagnostic] = []
    for step in steps:
        suspend = step.data.get("suspend")
        if not isinstance(suspend, Mapping) or not isinstance(suspend.get("inputs"), Mapping):
            continue
        found += _one(doc, step, suspend["inputs"], step.ptr + pointer("suspend", "inputs"))
    return found


def _one(doc: Document, step: StepInfo, schema: Mapping[str, Any], ptr: str) -> list[Diagnostic]:
    where = f"inputs of step '{step.name}'"
    kind = schema.get("type", "object")
    if kind != "object":
        message = f"{where} must describe an object (type: object), got type {kind!r}"
        hint = "write inputs: {type: object, properties: {approve: {type: boolean}}}"
        return [doc.diagnostic(ptr + pointer("type"), message, hint, value=True)]
    found = []
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for error in meta.iter_errors(dict(schema)):
        at = ptr + pointer(*error.absolute_path)
        path = list(error.absolute_path)
        if path and path[-1] == "type" and isinstance(error.instance, str):
            message = f"{where}: '{error.instance}' is not a JSON Schema type"
            hint = did_you_mean(error.instance, _TYPES) or f"use one of {', '.join(_TYPES)}"
        else:
            message = f"{where} is not a valid JSON Schema: {error.message}"
            hint = ""
        found.append(doc.diagnostic(at, message, hint, value=True))
    if found:
        return found + _required(doc, step, schema, ptr)
    try:
        Draft202012Validator(dict(schema)).is_valid({})
    except (SchemaError, Exception) as broken:  # an unresolvable $ref and the like
        message = f"{where} cannot be used as a schema: {broken}"
        return [doc.diagnostic(ptr, message, "only references inside inputs can be resolved")]
    return _required(doc, step, schema, ptr)


def _required(
    doc: Document, step: StepInfo, schema: Mapping[str, Any], ptr: str
) -> list[Diagnostic]:
    found = []
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    for index, name in enumerate(required if isinstance(required, list) else []):
        if isinstance(name, str) and properties and name not in properties:
            message = f"input '{name}' of step '{step.name}' is required but not declared "
            message += "under properties"
            maybe = did_you_mean(name, properties)
            found.append(doc.diagnostic(ptr + pointer("required", index), message, maybe))
    return found


_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
