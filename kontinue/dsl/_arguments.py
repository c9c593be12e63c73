"""Submit-time arguments: parse ``-p key=value`` and validate against a plan's params schema."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from kontinue.dsl._errors import ArgumentsError
from kontinue.dsl._steps import did_you_mean
from kontinue.dsl._yaml_limits import YAMLLimitError, check_yaml

__all__ = ["parse_param_assignments", "validate_arguments"]

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _fill_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if isinstance(instance, dict) and isinstance(properties, Mapping):
        for name, sub in properties.items():
            if isinstance(sub, Mapping) and "default" in sub and name not in instance:
                instance[name] = copy.deepcopy(sub["default"])
    check_properties = Draft202012Validator.VALIDATORS["properties"]
    yield from check_properties(validator, properties, instance, schema)


_Filler = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"properties": _fill_defaults}
)


def _strict(params: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse unknown params when the schema declares its properties and says nothing else."""
    schema = dict(params)
    if isinstance(schema.get("properties"), Mapping) and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    return schema


def validate_arguments(
    plan: Mapping[str, Any], args: Mapping[str, Any], *, noun: str = "param"
) -> dict[str, Any]:
    """Validate arguments against a plan's ``params`` schema and apply its defaults.

    When ``params`` declares ``properties`` and does not set ``additionalProperties``, an
    argument that is not declared is refused (a misspelt ``-p`` must not pass silently).

    Args:
        plan: A compiled plan (or any mapping with a ``params`` JSON Schema).
        args: The arguments, e.g. from `parse_param_assignments`.

    Returns:
        A new dict: the arguments with defaults filled in.

    Raises:
        ArgumentsError: one problem per sentence, e.g. ``param 'service' is required``.
    """
    params = plan.get("params") or {"type": "object"}
    schema = _strict(params)
    values = copy.deepcopy(dict(args))
    try:
        for _ in _Filler(schema).iter_errors(values):
            pass  # the first pass only fills defaults; the second reports problems
        errors = sorted(
            Draft202012Validator(schema).iter_errors(values),
            key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)),
        )
    except Exception as error:  # a broken params schema (unresolvable $ref, bad keyword)
        raise ArgumentsError([f"the {noun}s schema cannot be used: {error}"]) from None
    problems = [problem for error in errors for problem in _problems(error, noun)]
    if problems:
        raise ArgumentsError(list(dict.fromkeys(problems)))
    return values


def _name(error: ValidationError, last: str | None = None) -> str:
    parts = [str(p) for p in error.absolute_path] + ([last] if last else [])
    return ".".join(parts)


def _problems(error: ValidationError, noun: str) -> list[str]:
    kind, value = str(error.validator), error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if kind == "required" and isinstance(value, Mapping):
        return [f"{noun} '{_name(error, r)}' is required" for r in expected if r not in value]
    if kind == "additionalProperties" and isinstance(value, Mapping):
        known = list((schema.get("properties") or {}).keys())
        out = []
        for extra in (k for k in value if k not in known):
            hint = did_you_mean(extra, known)
            listing = (
                f"declared {noun}s: {', '.join(known)}" if known else f"it declares no {noun}s"
            )
            out.append(
                f"unknown {noun} '{_name(error, extra)}'; {hint + ' ' if hint else ''}{listing}"
            )
        return out
    name = _name(error) or "arguments"
    got = repr(value) if isinstance(value, str) else _show(value)
    if kind == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return [f"{noun} '{name}' must be {wanted}, got {got}"]
    if kind == "enum":
        return [f"{noun} '{name}' must be one of {', '.join(map(_show, expected))}, got {got}"]
    if kind == "const":
        return [f"{noun} '{name}' must be {_show(expected)}, got {got}"]
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "more than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }
        return [f"{noun} '{name}' must be {words[kind]} {expected}, got {got}"]
    if kind == "pattern":
        return [f"{noun} '{name}' must match the pattern {expected!r}, got {got}"]
    return [f"{noun} '{name}' is invalid: {error.message}"]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value) if isinstance(value, str) else str(value)


def parse_param_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """Parse CLI ``-p key=value`` assignments; values are read as YAML scalars.

    ``replicas=3`` gives 3, ``debug=true`` gives True, ``name=hello`` gives "hello",
    ``ratio=0.5`` gives 0.5, ``tags=[a, b]`` gives a list, ``empty=`` gives "". Text that YAML
    would read as a mapping (``msg=a: b``) or a date stays a string. A later key wins.

    Raises:
        ArgumentsError: an assignment has no ``=`` or an empty key, or a ``[``/``{`` value
            is not valid YAML.
    """
    result: dict[str, Any] = {}
    problems = []
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(f"'{text}' must be written as key=value, e.g. replicas=3")
            continue
        try:
            result[key] = _scalar(raw)
        except YAMLLimitError as exc:
            problems.append(f"the value of param '{key}' cannot be read: {exc}")
        except YAMLError:
            problems.append(f"the value of param '{key}' is not valid YAML: {raw!r}")
    if problems:
        raise ArgumentsError(problems)
    return result


def _scalar(raw: str) -> Any:
    if raw.strip() == "":
        return raw
    yaml = YAML(typ="safe", pure=True)
    check_yaml(raw)  # a YAMLLimitError is a kontinue Error: one line, exit 2
    if raw.lstrip().startswith(("[", "{")):
        return _plain(yaml.load(raw))
    try:
        value = yaml.load(raw)
    except YAMLError:
        return raw
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return raw


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value
