"""Bounds on YAML before anything loads it: alias expansion, nesting depth, size.

A 504-byte "billion laughs" document expands to 10^9 nodes once something walks it (JSON
Schema, pydantic, `json.dumps`), and 10,000 nested brackets exhaust the recursion of every
recursive composer. `check_yaml` reads the document's parser events once with libyaml (C,
through PyYAML: fast, and its parser keeps its own stack, so it neither recurses nor expands
anything) and refuses such a document with the line and column of the alias or bracket that
crossed the limit. The document is then loaded by ruamel.yaml as before.
"""

from __future__ import annotations

import os

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
)

from kontinue.api import Error, ErrorKind

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "YAMLLimitError", "check_yaml"]

MAX_DEPTH = 100
"""Collections nested deeper than this are refused (no real pipeline or argument file comes
close; JSON Schema and pydantic recurse once per level)."""

MAX_EXPANDED_NODES = int(os.environ.get("KONTINUE_MAX_YAML_NODES", "2000000"))
"""Nodes a document may hold once every alias is expanded."""

ALIAS_FACTOR = 10
"""Aliases may add at most this many times the document's own nodes (plus 10,000)."""


class YAMLLimitError(Error):
    """A YAML document crosses a safety limit: alias expansion, nesting depth or size."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


def check_yaml(text: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise YAMLLimitError if `text` is alias-heavy or nested too deep; return otherwise.

    Syntax errors are left to the loader that runs next, which reports them its own way.
    """
    anchors: dict[str, int] = {}
    open_anchors: list[tuple[str | None, int]] = []  # one per open collection
    own = expanded = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, DocumentStartEvent):
                anchors.clear()  # anchors are per document
                continue
            if isinstance(event, AliasEvent):
                name = str(event.anchor)
                size = anchors.get(name)
                if size is None:
                    if any(a == name for a, _ in open_anchors):
                        _refuse(event, f"alias *{name} refers to a collection that holds it")
                    continue  # an undefined alias: the loader names it
                expanded += size
                if expanded - own > ALIAS_FACTOR * own + 10_000 or expanded > MAX_EXPANDED_NODES:
                    _refuse(
                        event,
                        f"too many aliases: expanding *{name} makes the document {expanded:,} "
                        f"nodes from {own:,} written ones (the limit is {ALIAS_FACTOR}x, and "
                        f"{MAX_EXPANDED_NODES:,} in all); write the values out or use fewer "
                        "aliases",
                    )
                continue
            if isinstance(event, NodeEvent):
                own += 1
                expanded += 1
                if isinstance(event, CollectionStartEvent):
                    open_anchors.append((event.anchor, expanded - 1))
                    if len(open_anchors) > max_depth:
                        _refuse(
                            event,
                            f"nested more than {max_depth} levels deep; flatten the structure",
                        )
                elif event.anchor:
                    anchors[str(event.anchor)] = 1
            elif isinstance(event, CollectionEndEvent) and open_anchors:
                anchor, start = open_anchors.pop()
                if anchor:
                    anchors[str(anchor)] = expanded - start
    except YAMLLimitError:
        raise
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in str(exc.problem or "") and exc.problem_mark is not None:
            mark = exc.problem_mark  # libyaml's own bound (1000) met before ours
            raise YAMLLimitError(
                f"nested more than {max_depth} levels deep; flatten the structure",
                mark.line + 1,
                mark.column + 1,
            ) from None
        return  # a syntax error: the loader that runs next reports it in its own words
    except yaml.YAMLError:
        return


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse(event: NodeEvent, message: str) -> None:
    mark = event.start_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    raise YAMLLimitError(message, line, col)
