"""The step tree of a pipeline: names (with defaults), positions in the tree and run order.

Default names: an unnamed top-level step is ``step-N`` (``finally-N`` under ``finally``), an
unnamed step inside a ``parallel``, ``dag`` or ``sequence`` step named P is ``P-N``, where N is
the step's 1-based position in its list.
Names are unique across the whole pipeline, nested steps included, because templates read any
earlier step as ``steps.<name>``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kontinue.dsl._loader import pointer

__all__ = [
    "CONCURRENT",
    "GROUPS",
    "KINDS",
    "NAME_MAX",
    "Relation",
    "StepInfo",
    "did_you_mean",
    "kind_of",
    "name_fix",
    "relation",
    "walk_steps",
]

KINDS = (
    "script",
    "job",
    "pod",
    "poll",
    "sleep",
    "suspend",
    "parallel",
    "dag",
    "sequence",
    "call",
)
GROUPS = ("parallel", "dag", "sequence")
"""The kinds that hold a list of steps."""
CONCURRENT = ("parallel", "dag")
"""The groups whose steps run at the same time (unless ``needs`` orders them)."""
"""The step kinds; a step has exactly one of these keys."""

NAME_MAX = 63
NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

Relation = Literal["before", "after", "parallel", "encloses", "inside", "same"]
"""How step A stands to step B in the run order (see `relation`)."""


@dataclass(frozen=True, eq=False)
class StepInfo:
    """One step found in the document, however malformed its content.

    Attributes:
        ptr: JSON pointer of the step mapping, e.g. ``/steps/1/parallel/0``.
        name: Its name, as written or the default one.
        explicit: Whether the name was written in the file.
        path: ``(container, index)`` from the top: container is ``steps``, ``finally``,
            ``parallel``, ``dag`` or ``sequence``; the run order is derived from it.
        parent: The enclosing step's name, or None at the top level.
        data: The step's mapping (empty if the item is not a mapping).
    """

    ptr: str
    name: str
    explicit: bool
    path: tuple[tuple[str, int], ...]
    parent: str | None
    data: Mapping[str, Any]

    @property
    def kind(self) -> str | None:
        """The step's kind if it has exactly one, else None."""
        return kind_of(self.data)


def kind_of(data: Mapping[str, Any]) -> str | None:
    """Return the single step kind present in ``data``, or None for none or several."""
    present = [kind for kind in KINDS if kind in data]
    return present[0] if len(present) == 1 else None


def walk_steps(document: Any) -> list[StepInfo]:
    """List every step of a pipeline document in document order (parents before children)."""
    if not isinstance(document, Mapping):
        return []
    main = list(_walk(document.get("steps"), "/steps", (), None, "steps"))
    return main + list(_walk(document.get("finally"), "/finally", (), None, "finally"))


def _walk(
    items: Any, ptr: str, path: tuple[tuple[str, int], ...], parent: str | None, container: str
) -> Iterator[StepInfo]:
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        data: Mapping[str, Any] = item if isinstance(item, Mapping) else {}
        written = data.get("name")
        explicit = isinstance(written, str)
        prefix = parent if parent is not None else "step" if container == "steps" else container
        name = written if isinstance(written, str) else f"{prefix}-{index + 1}"
        item_ptr = ptr + pointer(index)
        item_path = (*path, (container, index))
        yield StepInfo(item_ptr, name, explicit, item_path, parent, data)
        for kind in GROUPS:
            yield from _walk(data.get(kind), item_ptr + pointer(kind), item_path, name, kind)


def relation(a: StepInfo, b: StepInfo) -> tuple[Relation, int]:
    """Say how step ``a`` stands to step ``b`` in the run order.

    Returns:
        The relation and the depth of the list where the two paths part:
        ``before``/``after`` (a ends before b starts, or starts after b ends), ``parallel``
        (branches of the same parallel step), ``encloses``/``inside`` (a is an ancestor or a
        descendant of b) or ``same``.
    """
    for depth, (mine, theirs) in enumerate(zip(a.path, b.path, strict=False)):
        if mine[0] != theirs[0]:  # the main steps and finally: finally runs after
            return ("before" if mine[0] == "steps" else "after", depth)
        if mine != theirs:
            if mine[0] in CONCURRENT:
                return ("parallel", depth)
            return ("before" if mine[1] < theirs[1] else "after", depth)
    if len(a.path) == len(b.path):
        return ("same", len(a.path))
    return ("encloses" if len(a.path) < len(b.path) else "inside", min(len(a.path), len(b.path)))


def name_fix(name: str) -> str:
    """Turn any text into the nearest valid step name (lowercase RFC 1123 label)."""
    fixed = re.sub(r"[^a-z0-9-]+", "-", name.lower())
    fixed = re.sub(r"-{2,}", "-", fixed).strip("-")[:NAME_MAX].rstrip("-")
    return fixed or "step"


def is_valid_name(name: str) -> bool:
    """Tell whether ``name`` is a lowercase RFC 1123 label of at most 63 characters."""
    return len(name) <= NAME_MAX and NAME_PATTERN.fullmatch(name) is not None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return ``did you mean 'x'?`` for the closest choice, or None if nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
