"""Checks of the control-flow keys: ``needs`` (a DAG without cycles), ``forEach``/``as`` scopes.

A step's ``needs`` may only name siblings in the same ``dag:`` or ``parallel:`` block; a cycle
is reported at every ``needs`` entry on it, naming the whole loop. A ``forEach`` step's items
are read in its templates (and its nested steps') under the name ``as`` gives, ``item`` by
default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kontinue.dsl._errors import Diagnostic
from kontinue.dsl._loader import Document, pointer
from kontinue.dsl._steps import CONCURRENT, StepInfo, did_you_mean
from kontinue.dsl._template import ROOTS, has_template

__all__ = [
    "DEFAULT_AS",
    "LOOP_MAX",
    "PIPELINE_ROOT",
    "foreach_diagnostics",
    "loop_name",
    "needs_closure",
    "needs_diagnostics",
    "scope",
]

DEFAULT_AS = "item"
"""The name of a forEach item when the step gives no ``as``."""

LOOP_MAX = 1000
"""The most items one forEach may have."""

PIPELINE_ROOT = "pipeline"
"""The name finally steps (and the result) read the pipeline's phase and error under."""


def loop_name(data: Mapping[str, Any]) -> str | None:
    """The item name a step introduces (its ``as``, else ``item``), or None without forEach."""
    if "forEach" not in data:
        return None
    written = data.get("as")
    return written if isinstance(written, str) and written else DEFAULT_AS


def scope(step: StepInfo | None, by_path: Mapping[Any, StepInfo], own: bool) -> set[str]:
    """The extra names a template of ``step`` can read: enclosing items, ``pipeline``.

    ``own`` says whether the step's own item counts (not for the ``forEach`` template itself).
    """
    if step is None:
        return {PIPELINE_ROOT}
    names = set()
    if step.path and step.path[0][0] == "finally":
        names.add(PIPELINE_ROOT)
    for depth in range(1, len(step.path) + 1):
        owner = by_path.get(step.path[:depth])
        if owner is None or (owner is step and not own):
            continue
        name = loop_name(owner.data)
        if name is not None:
            names.add(name)
    return names


def _siblings(step: StepInfo, steps: list[StepInfo]) -> dict[str, StepInfo]:
    return {
        other.name: other
        for other in steps
        if other.path[:-1] == step.path[:-1] and other is not step
    }


def needs_closure(step: StepInfo, steps: list[StepInfo]) -> set[str]:
    """Every sibling ``step`` waits for, directly or through others (cycles tolerated)."""
    siblings = {s.name: s for s in steps if s.path[:-1] == step.path[:-1]}
    seen: set[str] = set()
    todo = list(_needs(step))
    while todo:
        name = todo.pop()
        if name in seen or name not in siblings:
            continue
        seen.add(name)
        todo.extend(_needs(siblings[name]))
    return seen


def _needs(step: StepInfo) -> list[str]:
    written = step.data.get("needs")
    return [n for n in written if isinstance(n, str)] if isinstance(written, list) else []


def needs_diagnostics(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    """Unknown, misplaced, repeated and cyclic ``needs`` entries, each at its own place."""
    found: list[Diagnostic] = []
    for step in steps:
        if "needs" not in step.data:
            continue
        ptr = step.ptr + pointer("needs")
        if not step.path or step.path[-1][0] not in CONCURRENT:
            message = f"needs of step '{step.name}' only works inside a dag: or parallel: block"
            hint = "steps of a sequence, or at the top, already run after the ones before them"
            found.append(doc.diagnostic(ptr, message, hint))
            continue
        siblings = _siblings(step, steps)
        for index, name in enumerate(_needs(step)):
            at = ptr + pointer(index)
            if name == step.name:
                message = f"step '{step.name}' needs itself"
                found.append(doc.diagnostic(at, message, "remove it from needs", value=True))
            elif name not in siblings:
                known = ", ".join(siblings) or "none"
                hint = did_you_mean(name, siblings) or f"its sibling steps are: {known}"
                message = f"step '{step.name}' needs '{name}', which is not a step of its block"
                found.append(doc.diagnostic(at, message, hint, value=True))
    return found + _cycles(doc, steps)


def _cycles(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    found = []
    groups: dict[Any, dict[str, StepInfo]] = {}
    for step in steps:
        if step.path and step.path[-1][0] in CONCURRENT:
            groups.setdefault(step.path[:-1], {})[step.name] = step
    for members in groups.values():
        for loop in _find_cycles(members):
            chain = " → ".join([*loop, loop[0]])
            for position, name in enumerate(loop):
                step = members[name]
                target = loop[(position + 1) % len(loop)]
                index = _needs(step).index(target)
                message = f"the needs of steps form a cycle: {chain}"
                hint = "a step cannot wait, directly or through others, for itself"
                at = step.ptr + pointer("needs", index)
                found.append(doc.diagnostic(at, message, hint, value=True))
    return found


def _find_cycles(members: Mapping[str, StepInfo]) -> list[list[str]]:
    """Each elementary cycle once (by depth-first search, in document order)."""
    cycles: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for need in _needs(members[name]):
            if need not in members or need == name:
                continue
            if state.get(need) == 1:
                loop = stack[stack.index(need) :]
                if frozenset(loop) not in seen_sets:
                    seen_sets.add(frozenset(loop))
                    cycles.append(list(loop))
            elif need not in state:
                visit(need)
        stack.pop()
        state[name] = 2

    for name in members:
        if name not in state:
            visit(name)
    return cycles


def foreach_diagnostics(doc: Document, steps: list[StepInfo]) -> list[Diagnostic]:
    """``as`` names that would hide a template root; ``forEach`` text that is no template."""
    found = []
    for step in steps:
        items = step.data.get("forEach")
        if isinstance(items, str) and not has_template(items):
            message = f"forEach of step '{step.name}' must be a list or one template giving a "
            message += f"list, got the text {items!r}"
            hint = 'write e.g. forEach: [eu, us] or forEach: "{{ params.regions }}"'
            found.append(doc.diagnostic(step.ptr + pointer("forEach"), message, hint, value=True))
        elif isinstance(items, list) and len(items) > LOOP_MAX:
            message = f"forEach of step '{step.name}' has {len(items)} items, more than {LOOP_MAX}"
            found.append(doc.diagnostic(step.ptr + pointer("forEach"), message, None))
        name = step.data.get("as")
        if isinstance(name, str) and name in (*ROOTS, PIPELINE_ROOT):
            message = f"as of step '{step.name}' is '{name}', which would hide {name}.* in "
            message += "its templates"
            ptr = step.ptr + pointer("as")
            found.append(doc.diagnostic(ptr, message, "pick another name, e.g. as: region"))
    return found
