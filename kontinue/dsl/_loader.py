"""Load a YAML pipeline into plain JSON data plus the 1-based position of every key and item."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedKeyMap, CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from kontinue.dsl._errors import Diagnostic, PipelineError
from kontinue.dsl._yaml_limits import YAMLLimitError, check_yaml

MAX_PIPELINE_BYTES = int(os.environ.get("KONTINUE_MAX_PIPELINE_BYTES", str(4 * 1024 * 1024)))
"""The largest pipeline file accepted (4 MiB: some 40,000 steps)."""

__all__ = ["Document", "load_document", "pointer", "pointer_parts"]

Position = tuple[int, int]


def pointer(*parts: str | int) -> str:
    """Build a JSON pointer (RFC 6901) from keys and indices."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def pointer_parts(ptr: str) -> list[str]:
    """Split a JSON pointer back into its (unescaped) parts."""
    if not ptr:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in ptr[1:].split("/")]


@dataclass(frozen=True)
class Document:
    """A parsed pipeline file.

    Attributes:
        file: The file name as the user gave it, used in diagnostics.
        data: The document as plain JSON data (dict, list, str, int, float, bool, None).
        keys: JSON pointer → (line, col) of a mapping key or a sequence item, 1-based.
        values: JSON pointer → (line, col) where the value starts, 1-based.
        blocks: Pointers of block scalars (``|`` or ``>``), whose text starts on the next line.
        lines: The source text, split into lines.
    """

    file: str
    data: Any
    keys: Mapping[str, Position] = field(default_factory=dict)
    values: Mapping[str, Position] = field(default_factory=dict)
    blocks: frozenset[str] = frozenset()
    lines: tuple[str, ...] = ()

    def at(self, ptr: str, *, value: bool = False) -> Position:
        """Return the position of ``ptr`` (of its value when ``value``), else of its parent's."""
        parts = pointer_parts(ptr)
        while True:
            current = pointer(*parts)
            if value and current in self.values:
                return self.values[current]
            if current in self.keys:
                return self.keys[current]
            if not parts:
                return (1, 1)
            parts.pop()
            value = False  # a parent's key is a better place than a parent's value

    def template_line(self, ptr: str, lineno: int) -> Position:
        """Map line ``lineno`` (1-based) of the template stored at ``ptr`` onto the file."""
        line, col = self.at(ptr, value=True)
        if ptr in self.blocks:
            line += lineno
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
            return (line, len(text) - len(text.lstrip()) + 1)
        if lineno <= 1:
            return (line, col)
        return (line + lineno - 1, 1)

    def diagnostic(
        self, ptr: str, message: str, hint: str | None = None, *, value: bool = False
    ) -> Diagnostic:
        """Make a diagnostic positioned at ``ptr`` in this file."""
        line, col = self.at(ptr, value=value)
        return Diagnostic(self.file, line, col, message, hint)


_HINTS = {
    "found character '\\t' that cannot start any token": (
        "a tab character is not allowed here",
        "YAML indentation must use spaces, not tabs",
    ),
    "but found another document": (
        "the file holds more than one YAML document",
        "put each pipeline in its own file, without a second '---'",
    ),
    "mapping values are not allowed here": (
        "a ':' is not allowed here",
        "quote the value if it contains ': ', e.g. command: \"echo a: b\"",
    ),
}


def _syntax_diagnostic(file: str, error: MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(error.problem or error.context or "the text is not valid YAML")
    if type(error).__name__ == "DuplicateKeyError":
        key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
        return Diagnostic(
            file,
            line,
            col,
            f"duplicate key '{key}'",
            "a key may appear only once in a mapping; remove or rename one of them",
        )
    if mark is not None and error.problem and "but got '{'" in problem:
        lines = str(getattr(mark, "buffer", "") or "").splitlines()
        if 0 < line <= len(lines) and lines[line - 1][col - 1 : col + 1] == "{{":
            return _trap(file, lines, line, col)
    message, hint = _HINTS.get(problem, (problem, None))
    context, ctx = error.context, error.context_mark
    if hint is None and context and ctx is not None and error.problem:
        what = _WHILE.sub("", str(context))
        hint = f"check the {what} that starts at line {ctx.line + 1}, column {ctx.column + 1}"
    return Diagnostic(file, line, col, f"invalid YAML: {message}", hint)


_WHILE = re.compile(r"^while \w+ (an? )?")


_TRAP = "a {{ }} template must be quoted: unquoted, YAML reads its braces as a { ... } mapping"


def _quoted_line(line: str, start: int) -> str:
    """``line`` with the plain value that holds the ``{{`` at ``start`` put in double quotes."""
    begin = start
    while begin > 0 and line[begin - 1] not in ",[{" and line[begin - 2 : begin] != ": ":
        begin -= 1
    while begin < start and line[begin] == " ":
        begin += 1
    end, depth = start, 0
    while end < len(line):
        if line.startswith("{{", end):
            depth += 1
            end += 2
            continue
        if line.startswith("}}", end) and depth:
            depth -= 1
            end += 2
            continue
        if depth == 0 and line[end] in ",]}#":
            break
        end += 1
    value = line[begin:end].rstrip()
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{line[:begin]}"{escaped}"{line[begin + len(value) :]}'.strip()


def _trap(file: str, lines: list[str], line: int, col: int) -> Diagnostic:
    """The diagnostic of an unquoted ``{{`` at 1-based ``line``, ``col``."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = text.find("{{", max(0, col - 1))
    if start < 0:
        start = text.find("{{")
    fixed = _quoted_line(text, start) if start >= 0 else ""
    hint = f"write: {fixed}" if fixed else "put the value in double quotes"
    return Diagnostic(file, line, (start + 1) if start >= 0 else col, _TRAP, hint)


class _Converter:
    def __init__(self, file: str = "", lines: list[str] | None = None) -> None:
        self.keys: dict[str, Position] = {}
        self.values: dict[str, Position] = {}
        self.blocks: set[str] = set()
        self.file, self.lines = file, lines or []
        self.traps: list[Diagnostic] = []

    def convert(self, node: Any, ptr: str) -> Any:
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if isinstance(key, CommentedKeyMap):  # `when: {{ x }}` read as a mapping
                    self.traps.append(_trap(self.file, self.lines, node.lc.line + 1, 1))
                    continue
                name = _key_text(key)
                child = ptr + pointer(name)
                self._mark(node, key, child)
                out[name] = self.convert(value, child)
            return out
        if isinstance(node, CommentedSeq):
            items: list[Any] = []
            for index, value in enumerate(node):
                child = ptr + pointer(index)
                try:
                    line, col = node.lc.item(index)
                    self.keys[child] = self.values[child] = (line + 1, col + 1)
                except (KeyError, IndexError, TypeError):
                    pass
                items.append(self.convert(value, child))
            return items
        return _scalar(node, ptr, self.blocks)

    def _mark(self, node: CommentedMap, key: Any, child: str) -> None:
        try:
            line, col = node.lc.key(key)
            self.keys[child] = (line + 1, col + 1)
            line, col = node.lc.value(key)
            # an empty value has no place of its own: ruamel puts it after the key's line
            empty = node[key] is None
            self.values[child] = self.keys[child] if empty else (line + 1, col + 1)
        except (KeyError, IndexError, TypeError):
            pass  # keys brought in by a `<<:` merge have no position of their own


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _scalar(node: Any, ptr: str, blocks: set[str]) -> Any:
    if isinstance(node, LiteralScalarString | FoldedScalarString):
        blocks.add(ptr)
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, dt.date | dt.datetime):
        return node.isoformat()
    return str(node)


def load_document(text: str, file: str) -> Document:
    """Parse YAML text into a Document.

    Args:
        text: The YAML source.
        file: The file name to put in diagnostics.

    Raises:
        PipelineError: the text is not valid YAML (syntax error, duplicate key, tab, ...).
    """
    if len(text) > MAX_PIPELINE_BYTES:
        raise PipelineError(
            [
                Diagnostic(
                    file,
                    1,
                    1,
                    f"the pipeline is {len(text):,} characters, more than the limit of "
                    f"{MAX_PIPELINE_BYTES:,} (KONTINUE_MAX_PIPELINE_BYTES)",
                    "split it into pipelines that call each other, or use forEach over a "
                    "parameter instead of writing out every step",
                )
            ]
        )
    try:
        check_yaml(text)
    except YAMLLimitError as error:
        raise PipelineError([Diagnostic(file, error.line, error.col, error.message)]) from None
    yaml = YAML(typ="rt")
    try:
        node = yaml.load(text)
    except MarkedYAMLError as error:
        raise PipelineError([_syntax_diagnostic(file, error)]) from None
    except YAMLError as error:
        raise PipelineError([Diagnostic(file, 1, 1, f"invalid YAML: {error}")]) from None
    converter = _Converter(file, text.splitlines())
    if isinstance(node, CommentedMap | CommentedSeq):
        converter.keys[""] = converter.values[""] = (node.lc.line + 1, node.lc.col + 1)
    data = converter.convert(node, "")
    if converter.traps:
        raise PipelineError(converter.traps)
    return Document(
        file=file,
        data=data,
        keys=converter.keys,
        values=converter.values,
        blocks=frozenset(converter.blocks),
        lines=tuple(text.splitlines()),
    )
