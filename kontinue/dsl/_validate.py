"""Check one pipeline document: schema, step names, params and every template, all at once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator

from kontinue.api import check_cron, check_timezone
from kontinue.dsl._errors import Diagnostic, TemplateError
from kontinue.dsl._flow import (
    PIPELINE_ROOT,
    foreach_diagnostics,
    loop_name,
    needs_closure,
    needs_diagnostics,
    scope,
)
from kontinue.dsl._inputs import inputs_diagnostics
from kontinue.dsl._kube import kube_diagnostics
from kontinue.dsl._loader import Document, pointer
from kontinue.dsl._schema import Locator, describe_value, schema_diagnostics
from kontinue.dsl._steps import (
    NAME_MAX,
    StepInfo,
    did_you_mean,
    is_valid_name,
    relation,
    walk_steps,
)
from kontinue.dsl._template import (
    ROOTS,
    condition_template,
    has_template,
    internal_accesses,
    parse,
    references_with_lines,
    unknown_names,
)

__all__ = ["declared_params", "validate_document"]

_START = "a pipeline starts with apiVersion: kontinue.cloud/v1alpha1 and kind: Pipeline"
_JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_SANDBOX = "templates can only read params, steps and execution; Python internals are blocked"


def validate_document(doc: Document) -> list[Diagnostic]:
    """Return every problem of one pipeline document (files it calls are not opened here)."""
    data = doc.data
    if data is None:
        return [Diagnostic(doc.file, 1, 1, "the pipeline file is empty", _START)]
    if not isinstance(data, Mapping):
        message = f"the pipeline file must hold a mapping, got {describe_value(data)}"
        return [doc.diagnostic("", message, _START)]
    steps = walk_steps(data)
    locate = Locator(steps)
    found = schema_diagnostics(doc, locate)
    found += _names(doc, steps)
    found += _params(doc, data.get("params"))
    found += needs_diagnostics(doc, steps)
    found += foreach_diagnostics(doc, steps)
    found += inputs_diagnostics(doc, steps)
    found += kube_diagnostics(doc, steps)
    found += _Templates(doc, data, steps, locate).check()
    return found


def declared_params(params: Any) -> set[str] | None:
    """Return the declared param names, or None when ``params`` accepts any name.

    A pipeline without ``params`` declares none; one whose params schema has no ``properties``
    accepts any name.
    """
    if params is None:
        return set()
    if isinstance(params, Mapping) and isinstance(params.get("properties"), Mapping):
        return set(params["properties"])
    return None


def _names(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    first_by_name: dict[str, StepInfo] = {}
    for step in steps:
        line = doc.at(step.ptr)[0]
        if not step.explicit and not is_valid_name(step.name):
            message = f"the unnamed step here gets the default name '{step.name}', which is "
            message += f"longer than {NAME_MAX} characters"
            found.append(doc.diagnostic(step.ptr, message, "give it a shorter name"))
        first = first_by_name.setdefault(step.name, step)
        if first is step:
            continue
        first_line = doc.at(first.ptr)[0]
        if step.explicit and first.explicit:
            message = f"step name '{step.name}' is used twice (first at line {first_line})"
            hint = "step names must be unique in the whole pipeline, nested steps included"
        elif step.explicit:
            message = (
                f"step name '{step.name}' is already the default name of the unnamed "
                f"step at line {first_line}"
            )
            hint = "rename this step or give the unnamed one a name"
        else:
            message = (
                f"the unnamed step at line {line} gets the default name "
                f"'{step.name}', which the step at line {first_line} already uses"
            )
            hint = "give this step a name"
        ptr = step.ptr + pointer("name") if step.explicit else step.ptr
        found.append(doc.diagnostic(ptr, message, hint, value=True))
    return found


def _params(doc: Document, params: Any) -> list[Diagnostic]:
    if not isinstance(params, Mapping):
        return []
    properties = params.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    found = _param_types(doc, properties)
    if found:
        return found  # the meta-schema would only repeat these, less clearly
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    for error in meta.iter_errors(dict(params)):
        ptr = pointer("params", *error.absolute_path)
        message = f"params is not a valid JSON Schema: {error.message}"
        found.append(doc.diagnostic(ptr, message, None, value=True))
    if found:
        return found
    required = params.get("required")
    for index, name in enumerate(required if isinstance(required, list) else []):
        if isinstance(name, str) and name not in properties and properties:
            message = f"param '{name}' is required but not declared under params.properties"
            maybe = did_you_mean(name, properties)
            found.append(doc.diagnostic(pointer("params", "required", index), message, maybe))
    return found + _param_defaults(doc, params, properties)


def _param_types(doc: Document, properties: Mapping[str, Any]) -> list[Diagnostic]:
    found = []
    for name, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        for each in [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []:
            if isinstance(each, str) and each not in _JSON_TYPES:
                message = f"param '{name}' has type '{each}', which is not a JSON Schema type"
                hint = did_you_mean(each, _JSON_TYPES) or f"use one of {', '.join(_JSON_TYPES)}"
                ptr = pointer("params", "properties", name, "type")
                found.append(doc.diagnostic(ptr, message, hint, value=True))
    return found


def _param_defaults(
    doc: Document, params: Mapping[str, Any], properties: Mapping[str, Any]
) -> list[Diagnostic]:
    """Check each default against the whole params schema (so local $refs resolve)."""
    defaults = {
        name: schema["default"]
        for name, schema in properties.items()
        if isinstance(schema, Mapping) and "default" in schema
    }
    try:
        errors = list(Draft202012Validator(dict(params)).iter_errors(defaults))
    except Exception as broken:  # an unresolvable $ref and the like, in the user's schema
        message = f"params cannot be used as a schema: {broken}"
        hint = "only references inside params itself (#/$defs/...) can be resolved"
        refs = [ptr for ptr, ref in _refs(params, pointer("params")) if ref in str(broken)]
        return [doc.diagnostic(refs[0] if refs else pointer("params"), message, hint)]
    found = []
    for error in errors:
        path = list(error.absolute_path)
        if path and path[0] in defaults:
            message = (
                f"the default of param '{path[0]}' does not match its own schema: {error.message}"
            )
            ptr = pointer("params", "properties", str(path[0]), "default")
            found.append(doc.diagnostic(ptr, message, None, value=True))
    return found


def _refs(schema: Any, ptr: str) -> Iterator[tuple[str, str]]:
    """Yield (pointer, target) of every ``$ref`` in a schema."""
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str):
                yield ptr + pointer(key), value
            else:
                yield from _refs(value, ptr + pointer(key))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _refs(value, ptr + pointer(index))


class _Templates:
    """Parses every template of a document and checks what it reads."""

    def __init__(
        self, doc: Document, data: Mapping[str, Any], steps: list[StepInfo], locate: Locator
    ) -> None:
        self.doc, self.data, self.steps, self.locate = doc, data, steps, locate
        self.by_name: dict[str, StepInfo] = {}
        for step in steps:
            self.by_name.setdefault(step.name, step)
        self.by_path = {step.path: step for step in steps}
        self.params = declared_params(data.get("params"))
        self.found: list[Diagnostic] = []

    def check(self) -> list[Diagnostic]:
        for step in self.steps:
            for ptr, text, is_condition in _step_templates(step):
                own = ptr != step.ptr + pointer("forEach")
                self._template(ptr, text, step, is_condition, own)
            for key in ("displayName", "description"):
                value = step.data.get(key)
                if isinstance(value, str) and has_template(value):
                    message = f"{key} of step '{step.name}' is shown as written, so its "
                    message += "template would never be rendered"
                    hint = "templates work in script, job, pod, poll, suspend, with, when, "
                    hint += "forEach and result"
                    self.found.append(self.doc.diagnostic(step.ptr + pointer(key), message, hint))
        for ptr, text in _strings(self.data.get("result"), pointer("result")):
            self._template(ptr, text, None, False)
        mutex = self.data.get("mutex")
        if isinstance(mutex, str):
            self._template(pointer("mutex"), mutex, None, False, roots=("params",))
        self._schedule(self.data.get("schedule"))
        return self.found

    def _schedule(self, block: Any) -> None:
        """A `schedule:` block's cron expression and time zone, checked as the engine reads them."""
        if not isinstance(block, dict):
            return
        checks = (("cron", check_cron), ("timezone", check_timezone))
        for key, check in checks:
            value = block.get(key)
            if not isinstance(value, str):
                continue
            try:
                check(value)
            except ValueError as exc:
                ptr = pointer("schedule") + pointer(key)
                self.found.append(self.doc.diagnostic(ptr, str(exc), None, value=True))

    def _report(self, ptr: str, lineno: int, message: str, hint: str | None, *needles: str) -> None:
        """Add a diagnostic at the template's line, at the first needle found on that line."""
        line, col = self.doc.template_line(ptr, lineno)
        text = self.doc.lines[line - 1] if 0 < line <= len(self.doc.lines) else ""
        for needle in needles:
            index = text.find(needle, col - 1)
            if index >= 0:
                col = index + 1
                break
        self.found.append(Diagnostic(self.doc.file, line, col, message, hint))

    def _template(
        self,
        ptr: str,
        text: Any,
        owner: StepInfo | None,
        is_condition: bool,
        own: bool = True,
        roots: tuple[str, ...] | None = None,
    ) -> None:
        where = self.locate.where(ptr)
        names = scope(owner, self.by_path, own)
        if not isinstance(text, str | bool) or (
            isinstance(text, str) and not is_condition and not has_template(text)
        ):
            return
        try:
            source = condition_template(text) if is_condition else str(text)
            ast = parse(source)
        except TemplateError as error:
            detail = error.message.removeprefix("template syntax error: ")
            if error.lineno is None:
                message = f"{where} must be one expression, not text with templates in it"
                hint: str | None = 'write e.g. "{{ params.replicas > 0 }}" or params.replicas > 0'
            else:
                message, hint = f"{where} has a template syntax error: {detail}", None
            self._report(ptr, error.lineno or 1, message, hint)
            return
        for attr, lineno in internal_accesses(ast):
            self._report(
                ptr, lineno, f"{where} reads the internal attribute '{attr}'", _SANDBOX, attr
            )
        for name, lineno in unknown_names(ast, names):
            usable = [*ROOTS, *sorted(names)]
            hint = did_you_mean(name, usable) or f"templates can use {', '.join(usable)}"
            if name == PIPELINE_ROOT:
                hint = "pipeline.phase and pipeline.error can only be read in finally: steps"
            elif name == "item":
                hint += "; an item name only exists in a step with forEach (or its steps)"
            self._report(ptr, lineno, f"{where} uses the unknown name '{name}'", hint, name)
        if roots is not None:
            for root, name, lineno in references_with_lines(ast):
                if root not in roots:
                    message = f"{where} can only read {', '.join(roots)}, not {root}.{name}"
                    self._report(ptr, lineno, message, "it is evaluated before any step runs")
            return
        for root, name, lineno in references_with_lines(ast):
            if root == "params":
                self._param(ptr, owner, name, lineno)
            else:
                self._step(ptr, owner, name, lineno)

    def _param(self, ptr: str, owner: StepInfo | None, name: str, lineno: int) -> None:
        if self.params is None or name in self.params:
            return
        who = f"step '{owner.name}'" if owner is not None else "the result"
        message = f"{who} refers to undeclared param '{name}'"
        if self.params:
            hint = did_you_mean(name, self.params) or ""
            hint = f"{hint} declared params: {_listing(sorted(self.params))}".strip()
        else:
            hint = "the pipeline declares no params; add it under params.properties"
        self._report(ptr, lineno, message, hint, *_needles("params", name))

    def _step(self, ptr: str, owner: StepInfo | None, name: str, lineno: int) -> None:
        who = f"step '{owner.name}'" if owner is not None else "the result"
        target = self.by_name.get(name)
        if target is None:
            hint = did_you_mean(name, self.by_name) or f"known steps: {_listing(self.by_name)}"
            message = f"{who} refers to unknown step '{name}'"
            self._report(ptr, lineno, message, hint, *_needles("steps", name))
            return
        inner = self._loop_owner(target)
        if inner is not None and (owner is None or not _within(owner, inner)):
            message = f"{who} reads step '{name}', which runs once per item of forEach step "
            message += f"'{inner.name}'"
            hint = f"read the list of item outcomes, steps['{inner.name}'][0] and so on"
            self._report(ptr, lineno, message, hint, *_needles("steps", name))
            return
        if owner is None:
            return  # the result is computed after every step
        how, depth = relation(target, owner)
        if how == "parallel" and self._needed(owner, target, depth):
            return
        if how == "before":
            return
        message, hint = self._order_problem(owner, target, how, depth)
        self._report(ptr, lineno, message, hint, *_needles("steps", name))

    def _loop_owner(self, target: StepInfo) -> StepInfo | None:
        """The innermost forEach step strictly enclosing ``target``, if any."""
        for depth in range(len(target.path) - 1, 0, -1):
            owner = self.by_path.get(target.path[:depth])
            if owner is not None and loop_name(owner.data) is not None:
                return owner
        return None

    def _needed(self, owner: StepInfo, target: StepInfo, depth: int) -> bool:
        """Whether ``owner``'s branch waits (through needs) for ``target``'s branch."""
        mine = self.by_path.get(owner.path[: depth + 1])
        theirs = self.by_path.get(target.path[: depth + 1])
        if mine is None or theirs is None:
            return False
        return theirs.name in needs_closure(mine, self.steps)

    def _order_problem(
        self, owner: StepInfo, target: StepInfo, how: str, depth: int
    ) -> tuple[str, str]:
        me, it = owner.name, target.name
        rule = "a step can only read steps that finished before it starts"
        if how == "same":
            return f"step '{me}' refers to its own outcome (steps.{it})", rule
        if how == "after":
            return (
                f"step '{me}' refers to step '{it}', which runs later",
                f"move '{it}' before '{me}', or remove the reference",
            )
        if how == "parallel":
            group = self.by_path.get(owner.path[:depth])
            kind = group.kind if group and group.kind else "parallel"
            of = f" (both are inside {kind} step '{group.name}')" if group else ""
            branch = self.by_path.get(target.path[: depth + 1])
            hint = f"{rule}; add needs: [{branch.name if branch else it}] to wait for it"
            return f"step '{me}' refers to step '{it}', which runs in parallel with it{of}", hint
        if how == "encloses":
            return (
                f"step '{me}' refers to step '{it}', which contains it and has not "
                f"finished when '{me}' runs"
            ), rule
        return f"step '{me}' refers to step '{it}', which runs inside it, later", rule


def _within(step: StepInfo, ancestor: StepInfo) -> bool:
    return step.path[: len(ancestor.path)] == ancestor.path


def _listing(names: Iterable[str], limit: int = 12) -> str:
    shown = list(names)
    if len(shown) <= limit:
        return ", ".join(shown)
    return ", ".join(shown[:limit]) + f" and {len(shown) - limit} more"


def _needles(root: str, name: str) -> tuple[str, ...]:
    return (f"{root}.{name}", f"{root}['{name}']", f'{root}["{name}"]', name)


def _strings(value: Any, ptr: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield ptr, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, ptr + pointer(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, ptr + pointer(index))


def _step_templates(step: StepInfo) -> Iterator[tuple[str, Any, bool]]:
    data, ptr = step.data, step.ptr
    if "when" in data:
        yield ptr + pointer("when"), data["when"], True
    if isinstance(data.get("mutex"), str):
        yield ptr + pointer("mutex"), data["mutex"], False
    script = data.get("script")
    if isinstance(script, Mapping):
        yield ptr + pointer("script", "command"), script.get("command"), False
        env = script.get("env")
        for key, value in env.items() if isinstance(env, Mapping) else []:
            yield ptr + pointer("script", "env", key), value, False
    suspend = data.get("suspend")
    if isinstance(suspend, Mapping):
        for key in ("displayName", "description"):
            yield ptr + pointer("suspend", key), suspend.get(key), False
    if isinstance(data.get("forEach"), str):
        yield ptr + pointer("forEach"), data["forEach"], False
    for kind in ("job", "pod", "poll"):
        for leaf_ptr, text in _strings(data.get(kind), ptr + pointer(kind)):
            yield leaf_ptr, text, False
    for leaf_ptr, text in _strings(data.get("with"), ptr + pointer("with")):
        yield leaf_ptr, text, False
