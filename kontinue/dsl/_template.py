"""Jinja2 templating of pipeline values in a sandbox: render, conditions and static references.

Templates see three names: ``params`` (the arguments, defaults applied), ``steps`` (step name →
``{result, exitCode, phase, ...}`` of the steps that finished before) and ``execution`` (name,
namespace, labels, ...). Rendering rules:

* A string that is exactly one ``{{ expression }}`` (surrounding whitespace allowed) evaluates
  to the expression's own JSON value: ``"{{ params.replicas }}"`` is the integer 2.
* Any other string renders to a string; inserted values that are not strings are written as
  JSON (``true``, ``null``, ``{"a": 1}``), so shell commands get predictable text.
* Strings without ``{{``, ``{%`` or ``{#`` are returned untouched.
* An undefined name or key is an error naming it, never an empty string.
* Python internals (``__class__``, ``_private`` attributes), mutation of values, huge ranges,
  powers and repetitions are refused by the sandbox.
* Each render has a budget (`kontinue.dsl._budget`): 1 MiB of output, 5 s of CPU time, and
  it stops when its Execution is canceled.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2 import TemplateError as JinjaError
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import missing

from kontinue.dsl._budget import (
    MAX_OUTPUT,
    BudgetExceeded,
    RenderInterrupted,
    bound_joins,
    check_size,
    run_budgeted,
)
from kontinue.dsl._errors import TemplateError

__all__ = [
    "PLACEHOLDER",
    "ROOTS",
    "Raw",
    "condition",
    "condition_template",
    "has_template",
    "parse",
    "references",
    "render",
    "render_string",
    "render_text",
    "render_values",
    "steps_read",
]

ROOTS = ("params", "steps", "execution")
"""The names a template can read."""

_SINGLE = re.compile(r"\s*\{\{-?(?P<expr>.*?)-?\}\}\s*", re.DOTALL)
_MARKERS = ("{{", "{%", "{#")
_MAX_REPEAT = 100_000
_MAX_POWER_BITS = 4096
_SANDBOX_HINT = "templates can only read params, steps and execution, not Python internals"


class _Scope(dict[str, Any]):
    """A mapping that knows its dotted path, so an undefined key names the full path."""

    def __init__(self, path: str, items: Mapping[str, Any]) -> None:
        super().__init__(items)
        self._kontinue_path = path


def _scoped(value: Any, path: str) -> Any:
    if isinstance(value, Mapping):
        return _Scope(path, {str(k): _scoped(v, f"{path}.{k}") for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_scoped(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


class _Undefined(StrictUndefined):
    """StrictUndefined whose message names the whole path and what is known there."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        obj, name = self._undefined_obj, self._undefined_name
        if obj is missing:
            return f"'{name}' is undefined; templates can use {', '.join(ROOTS)}"
        if isinstance(obj, _Scope):
            path = obj._kontinue_path
            shown = f"{path}.{name}" if isinstance(name, str) else f"{path}[{name!r}]"
            what = path if path in ROOTS else f"keys of {path}"
            return f"'{shown}' is undefined; known {what}: {', '.join(obj) or 'none'}"
        kind = "a list" if isinstance(obj, list) else f"a {type(obj).__name__} value"
        return f"{kind} has no attribute or key {name!r}"


class _TooLarge(SecurityError):
    """A value the sandbox refuses to build because of its size."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, also refusing powers and repetitions that would eat the machine."""

    intercepted_binops = frozenset({"**", "*", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+" and isinstance(left, str | list) and isinstance(right, str | list):
            check_size(len(left) + len(right))
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left).bit_length() * right > _MAX_POWER_BITS
        ):
            raise _TooLarge(f"{left} ** {right} is too large to compute in a template")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                too_many = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if too_many and len(seq) * count > _MAX_REPEAT:
                    raise _TooLarge(
                        f"repeating a value {count} times gives more than "
                        f"{_MAX_REPEAT} items, too many for a template"
                    )
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    if isinstance(value, str | Undefined):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list | tuple):
        return json.dumps(_plain(value, ""), separators=(", ", ": "))
    return value


class Raw(str):
    """Text a template marked with `| raw`: inserted into a script command as shell code."""

    __slots__ = ()


def _raw(value: Any) -> Raw:
    return Raw(value if isinstance(value, str) else str(_finalize(value)))


_ENV = _Sandbox(
    undefined=_Undefined, finalize=_finalize, autoescape=False, keep_trailing_newline=True
)
_ENV.filters["raw"] = _raw

# Rendering where each inserted value must be kept apart from the template's own text (script
# commands, env values): `{{ }}` outputs are collected here and replaced by placeholders.
_VALUES: ContextVar[list[str] | None] = ContextVar("kontinue_template_values", default=None)
PLACEHOLDER = "\x00"
"""Brackets the index of an inserted value in `render_values` output: NUL, index, NUL."""


def _collect(value: Any) -> Any:
    values = _VALUES.get()
    if values is None or isinstance(value, Undefined | Raw):
        return _finalize(value)
    text = value if isinstance(value, str) else str(_finalize(value))
    values.append(text)
    # the values count against the output budget as if they were inserted in the text
    if _collected_size(values) > MAX_OUTPUT:
        raise BudgetExceeded(
            f"the template's output is longer than {MAX_OUTPUT:,} characters "
            "(KONTINUE_TEMPLATE_MAX_OUTPUT); build less text"
        )
    return f"{PLACEHOLDER}{len(values) - 1}{PLACEHOLDER}"


def _collected_size(values: list[str]) -> int:
    size = _SIZES.get(id(values), 0) + len(values[-1])
    _SIZES[id(values)] = size
    return size


_SIZES: dict[int, int] = {}


_VALUE_ENV = _Sandbox(
    undefined=_Undefined, finalize=_collect, autoescape=False, keep_trailing_newline=True
)
_VALUE_ENV.filters["raw"] = _raw


def has_template(text: str) -> bool:
    """Tell whether a string contains template markup (``{{``, ``{%`` or ``{#``)."""
    return any(marker in text for marker in _MARKERS)


def _single_expression(text: str) -> str | None:
    match = _SINGLE.fullmatch(text)
    if match is None:
        return None
    expr = match.group("expr")
    if any(marker in expr for marker in (*_MARKERS, "}}", "%}", "#}")):
        return None
    return expr


def _syntax_error(text: str, error: TemplateSyntaxError, offset: int = 0) -> TemplateError:
    message = f"template syntax error: {error.message}"
    if "comment" in (error.message or ""):
        message += "; '{#' starts a Jinja comment, write {{ '{#' }} for the literal text"
    return TemplateError(text, message, (error.lineno or 1) + offset)


def parse(text: str) -> nodes.Template:
    """Parse a template into a Jinja AST.

    Raises:
        TemplateError: the template has a syntax error; ``lineno`` is the line inside it.
    """
    try:
        return _ENV.parse(text)
    except TemplateSyntaxError as error:
        raise _syntax_error(text, error) from None


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Callable[[Mapping[str, Any]], Any]:
    expr = _single_expression(text)
    try:
        if expr is not None:
            compiled = _ENV.compile_expression(expr, undefined_to_none=False)
            bound_joins(compiled._template.root_render_func.__globals__)
            return lambda context: _check_defined(run_budgeted(None, lambda: compiled(**context)))
        template = _ENV.from_string(text)
        bound_joins(template.root_render_func.__globals__)
    except TemplateSyntaxError as error:
        offset = text[: text.find("{{")].count("\n") if expr is not None else 0
        raise _syntax_error(text, error, offset) from None
    return lambda context: run_budgeted(lambda: template.generate(**context), lambda: None)


def _check_defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _plain(value: Any, text: str) -> Any:
    """Turn what an expression returned into JSON data."""
    if value is None or isinstance(value, bool | int | float | str):
        return str(value) if isinstance(value, str) and type(value) is not str else value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, text) for k, v in value.items()}
    if isinstance(value, list | tuple | range | Iterator | KeysView | ValuesView | ItemsView):
        return [_plain(v, text) for v in value]
    raise TemplateError(
        text, f"the expression gives a {type(value).__name__}, which is not JSON data"
    )


_UNSAFE = re.compile(r"access to attribute '(?P<attr>[^']*)' of '(?P<type>[^']*)' object")


def _security_message(raw: str) -> str:
    match = _UNSAFE.search(raw)
    if match is None:
        return f"{raw.rstrip('.')}; {_SANDBOX_HINT}"
    attr, kind = match.group("attr"), match.group("type").replace("_Scope", "dict")
    if attr.startswith("_"):
        return f"the template may not read the attribute {attr!r} of a {kind}; {_SANDBOX_HINT}"
    return f"the template may not call {attr!r} on a {kind}; values in templates are read-only"


def _evaluate(text: str, context: Mapping[str, Any]) -> Any:
    return _guarded(text, lambda: _plain(_compile(text)(context), text))


@functools.lru_cache(maxsize=1024)
def _compile_values(text: str) -> Callable[[Mapping[str, Any]], str]:
    try:
        template = _VALUE_ENV.from_string(text)
        bound_joins(template.root_render_func.__globals__)
    except TemplateSyntaxError as error:
        raise _syntax_error(text, error) from None
    return lambda context: run_budgeted(lambda: template.generate(**context), lambda: None)


def render_values(text: str, context: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Render a template keeping every inserted value apart from the template's own text.

    Each `{{ expression }}` gives a placeholder (NUL, index, NUL) in the returned text and its
    value, as text, at that index of the returned list; a value marked `| raw` is inserted as
    it is. The caller decides how each value reaches its destination (a shell script gets
    environment variable references, never the value as code).

    Raises:
        TemplateError: the template failed to render, or its own text contains a NUL.
    """
    if PLACEHOLDER in text:
        raise TemplateError(text.replace(PLACEHOLDER, "\\0"), "the text contains a NUL character")
    if not has_template(text):
        return text, []
    values: list[str] = []
    token = _VALUES.set(values)
    try:
        rendered = _guarded(text, lambda: _compile_values(text)(_context(context)))
    finally:
        _VALUES.reset(token)
        _SIZES.pop(id(values), None)
    return rendered, values


def _guarded(text: str, run: Callable[[], Any]) -> Any:
    try:
        return run()
    except (TemplateError, RenderInterrupted):
        raise
    except BudgetExceeded as error:
        raise TemplateError(text, str(error)) from None
    except _TooLarge as error:
        raise TemplateError(text, str(error)) from None
    except SecurityError as error:
        raise TemplateError(text, _security_message(str(error))) from None
    except JinjaError as error:
        raise TemplateError(text, str(error.message or error)) from None
    except OverflowError:
        message = f"a range of more than {MAX_RANGE} items is too large for a template"
        raise TemplateError(text, message) from None
    except MemoryError:
        raise TemplateError(
            text, "the template needs more memory than this machine has; build smaller values"
        ) from None
    except Exception as error:  # a user expression failing: 1/0, 'a' < 1, ...
        raise TemplateError(text, f"evaluating the template failed: {error}") from None


def _context(context: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _scoped(value, key) for key, value in context.items()}


def render_string(text: str, context: Mapping[str, Any]) -> Any:
    """Render one string (see the module docstring for the rules).

    Raises:
        TemplateError: syntax error, undefined name, sandbox violation or failing expression.
    """
    if not has_template(text):
        return text
    return _evaluate(text, _context(context))


def render_text(text: str, context: Mapping[str, Any]) -> str:
    """Render a template that must give text (a command, an env value, a display name).

    Like `render_string`, but a single expression that gives something else than a string
    is written the way it would be inserted in text: JSON (``8080``, ``true``, ``{"a": 1}``).

    Raises:
        TemplateError: the template failed to render.
    """
    value = render_string(text, context)
    return value if isinstance(value, str) else str(_finalize(value))


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string in a JSON tree; mapping keys are left as written.

    Args:
        value: Any JSON value (dicts, lists, strings, numbers, booleans, None).
        context: The names templates can read: ``params``, ``steps``, ``execution``.

    Returns:
        A new JSON tree; single-expression strings keep the expression's type.

    Raises:
        TemplateError: a string failed to render.
    """
    scoped = _context(context)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return _evaluate(node, scoped) if has_template(node) else node
        if isinstance(node, Mapping):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [walk(item) for item in node]
        return node

    return walk(value)


def condition_template(text: str | bool) -> str:
    """Return the single-expression template equivalent to a ``when`` condition.

    ``"{{ params.x > 0 }}"`` is kept, a bare expression ``params.x > 0`` is wrapped in ``{{ }}``,
    and booleans become ``{{ true }}`` or ``{{ false }}``.

    Raises:
        TemplateError: the condition mixes text and templates instead of being one expression.
    """
    if isinstance(text, bool):
        return "{{ true }}" if text else "{{ false }}"
    if _single_expression(text) is not None:
        return text
    if not has_template(text):
        return "{{ " + text + " }}"
    raise TemplateError(
        text, 'a condition must be one expression, such as "{{ params.replicas > 0 }}"'
    )


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "", "none", "null"}


def condition(text: str | bool, context: Mapping[str, Any]) -> bool:
    """Evaluate a ``when`` condition to a boolean.

    Numbers, lists and mappings count by truthiness; a string must spell a boolean
    (``true``/``false``, ``yes``/``no``, ``1``/``0``).

    Raises:
        TemplateError: the condition fails to evaluate or gives a string that is not a boolean.
    """
    source = condition_template(text)
    value = _evaluate(source, _context(context))
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise TemplateError(
            source, f"the condition gives the text {value!r}, which is neither true nor false"
        )
    return bool(value)


def _reference(node: nodes.Node) -> tuple[str, str] | None:
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        target = node.node
        if isinstance(target, nodes.Name) and target.name in ("steps", "params"):
            if isinstance(node, nodes.Getattr):
                return (target.name, node.attr)
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                return (target.name, node.arg.value)
    return None


def references_with_lines(ast: nodes.Template) -> list[tuple[str, str, int]]:
    """List ``(root, name, lineno)`` for each ``steps.X``/``params.X`` in a parsed template."""
    found = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        ref = _reference(node)
        if ref is not None:
            found.append((*ref, node.lineno))
    return sorted(set(found), key=lambda r: (r[2], r[0], r[1]))


def references(template: str) -> set[tuple[str, str]]:
    """Find the steps and params a template reads, statically.

    Args:
        template: Template text, e.g. ``"{{ steps.build.result }} {{ params['service'] }}"``.

    Returns:
        Pairs such as ``("steps", "build")`` and ``("params", "service")``. Dynamic lookups
        (``steps[name]``) cannot be seen and are left out.

    Raises:
        TemplateError: the template has a syntax error.
    """
    return {(root, name) for root, name, _ in references_with_lines(parse(template))}


def steps_read(value: Any) -> set[str] | None:
    """The earlier steps a plan fragment's templates read, by name; None if it cannot be told.

    Every string of `value` (a plan node with its nested steps) that holds a template counts,
    and ``when`` conditions (which may be written without braces). A ``call`` of an embedded
    pipeline is skipped: its templates read that pipeline's own steps. A template that uses
    ``steps`` other than as ``steps.NAME`` / ``steps['NAME']`` (``steps[name]``, ``steps |
    length``, a loop over ``steps``) may read any step: then the answer is None.
    """
    found: set[str] = set()

    def text(source: str) -> bool:
        try:
            ast = parse(source)
        except TemplateError:
            return False  # rendering will report it; give the step everything meanwhile
        uses = sum(1 for n in ast.find_all(nodes.Name) if n.name == "steps" and n.ctx == "load")
        static = 0
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            ref = _reference(node)
            if ref is not None and ref[0] == "steps":
                static += 1
                found.add(ref[1])
        return uses == static

    def walk(node: Any, key: Any = None) -> bool:
        if isinstance(node, str):
            if key == "when":
                try:
                    return text(condition_template(node))
                except TemplateError:
                    return False
            return not has_template(node) or text(node)
        if isinstance(node, Mapping):
            return all(
                walk(item, k) for k, item in node.items() if not (k == "pipeline" and key == "call")
            )
        if isinstance(node, list):
            return all(walk(item) for item in node)
        return True

    return found if walk(value) else None


def template_names(text: str) -> set[str]:
    """Every free name a template reads (params, a loop item...); empty if it does not parse."""
    try:
        ast = parse(condition_template(text) if not has_template(text) else text)
    except TemplateError:
        return set()
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}


def unknown_names(ast: nodes.Template, allowed: Iterable[str] = ()) -> list[tuple[str, int]]:
    """List ``(name, lineno)`` of free names that are neither a root, ``allowed`` nor a global."""
    extra = set(allowed)
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    found = {
        (n.name, n.lineno)
        for n in ast.find_all(nodes.Name)
        if n.ctx == "load"
        and n.name not in ROOTS
        and n.name not in extra
        and n.name not in _ENV.globals
        and n.name not in assigned
    }
    return sorted(found, key=lambda f: (f[1], f[0]))


def internal_accesses(ast: nodes.Template) -> list[tuple[str, int]]:
    """List ``(attribute, lineno)`` of accesses to ``_``-prefixed attributes the sandbox refuses."""
    found = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            name = arg.value if isinstance(arg, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            found.append((name, node.lineno))
    return found
