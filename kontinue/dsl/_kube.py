"""Check ``job:`` and ``pod:`` specs against Kubernetes' own schema (``kubernetes-validate``).

The strict schemas are used, so a misspelt field (``comand``) is an error, as ``kubectl
apply --validate=strict`` would say. A string holding a template is only checked at run time:
``parallelism: "{{ params.n }}"`` is not refused for being text where a number goes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kontinue.dsl._errors import Diagnostic
from kontinue.dsl._loader import Document, pointer
from kontinue.dsl._steps import StepInfo, did_you_mean
from kontinue.dsl._template import has_template

__all__ = ["kube_diagnostics"]

_RESOURCES = {"job": ("batch/v1", "Job", "job-batch-v1"), "pod": ("v1", "Pod", "pod-v1")}


@functools.cache
def _validator(kind: str) -> Draft202012Validator | None:
    try:
        from kubernetes_validate import utils
        from referencing import Registry, Resource
    except ImportError:  # pragma: no cover - a runtime dependency; say so rather than crash
        return None
    folder = f"kubernetes-json-schema/v{utils.latest_version()}-local-strict"
    schema = utils.schema_contents(f"{folder}/{_RESOURCES[kind][2]}.json", "")
    definitions = utils.schema_contents(f"{folder}/_definitions.json", "")
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return Draft202012Validator(schema, registry=registry)


def kube_diagnostics(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    """Every Kubernetes schema violation of every job/pod step, at its line and column."""
    found: list[Diagnostic] = []
    for step in steps:
        for kind in ("job", "pod"):
            spec = step.data.get(kind)
            if isinstance(spec, Mapping):
                found += _check(doc, step, kind, spec)
    return found


def _check(doc: Document, step: StepInfo, kind: str, spec: Mapping[str, Any]) -> list[Diagnostic]:
    validator = _validator(kind)
    ptr = step.ptr + pointer(kind)
    if validator is None:
        message = f"the {kind} spec of step '{step.name}' cannot be checked: "
        message += "kubernetes-validate is not installed"
        return [doc.diagnostic(ptr, message, "pip install kubernetes-validate")]
    api, resource, _ = _RESOURCES[kind]
    document = {"apiVersion": api, "kind": resource, "metadata": {"name": "x"}, "spec": spec}
    found = []
    seen = set()
    for error in _leaves(validator.iter_errors(document)):
        path = list(error.absolute_path)[1:]  # drop the Job's "spec": relative to the step's key
        if isinstance(error.instance, str) and has_template(error.instance):
            continue  # checked once rendered
        at = ptr + pointer(*path)
        message, hint = _words(step, kind, path, error)
        if (at, message) not in seen:
            seen.add((at, message))
            unknown = error.validator == "additionalProperties"
            found.append(doc.diagnostic(_extra_ptr(at, error), message, hint, value=not unknown))
    return found


def _leaves(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """The most specific errors: for anyOf/oneOf the branch errors, not the summary."""
    for error in errors:
        if error.context:
            best = min(error.context, key=lambda e: len(list(e.context or [])))
            yield from _leaves(iter([best]))
        else:
            yield error


def _extra_ptr(at: str, error: ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema: Any = error.schema
        allowed = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        extras = [k for k in error.instance if k not in allowed]
        if extras:
            return at + pointer(extras[0])
    return at


def _words(
    step: StepInfo, kind: str, path: list[Any], error: ValidationError
) -> tuple[str, str | None]:
    where = ".".join(str(p) for p in path) or kind
    place = f"{where} in the {kind} spec of step '{step.name}'"
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema: Any = error.schema
        allowed = list(schema.get("properties", {})) if isinstance(schema, Mapping) else []
        extras = [k for k in error.instance if k not in allowed]
        extra = extras[0] if extras else "?"
        hint = did_you_mean(extra, allowed) or f"Kubernetes allows: {', '.join(allowed[:12])}"
        return f"unknown field '{extra}' at {place}", hint
    if error.validator == "required":
        return f"{place} is missing {error.message.split(' ')[0]}", "Kubernetes requires it"
    return f"{place} is invalid for Kubernetes: {error.message}", None
