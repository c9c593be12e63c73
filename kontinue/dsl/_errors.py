"""Diagnostics and the exceptions of the pipeline front end.

Exception tree::

    kontinue.Error        (kind Validation, not retryable)
    ├── PipelineError     a pipeline file is invalid; carries every Diagnostic found
    ├── TemplateError     a template failed to parse or to render (sandbox, undefined name, ...)
    └── ArgumentsError    submit-time arguments do not match the pipeline's params
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kontinue.api import Error, ErrorKind

__all__ = ["ArgumentsError", "Diagnostic", "PipelineError", "TemplateError"]

_SPACES = re.compile(r"\s+")


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a pipeline file, at a 1-based line and column.

    Attributes:
        file: The file as the user named it (never made absolute).
        line: 1-based line number.
        col: 1-based column number.
        message: A sentence saying what is wrong, naming the step.
        hint: The fix, when one is obvious, else None.
    """

    file: str
    line: int
    col: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        """Render as one line, ``FILE:LINE:COL: message; hint``."""
        text = f"{self.file}:{self.line}:{self.col}: {_one_line(self.message)}"
        if self.hint:
            text += f"; {_one_line(self.hint)}"
        return text


def _sort_key(diagnostic: Diagnostic) -> tuple[str, int, int, str]:
    return (diagnostic.file, diagnostic.line, diagnostic.col, diagnostic.message)


class PipelineError(Error):
    """A pipeline file is invalid.

    Attributes:
        diagnostics: Every problem found, sorted by file, line and column.
    """

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: list[Diagnostic] = sorted(set(diagnostics), key=_sort_key)
        count = len(self.diagnostics)
        lines = "\n".join(str(d) for d in self.diagnostics)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"the pipeline has {count} {noun}:\n{lines}")


class TemplateError(Error):
    """A template could not be parsed or rendered.

    Attributes:
        template: The template text as written.
        message: A plain sentence saying what is wrong.
        lineno: The 1-based line inside the template, when known.
    """

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, template: str, message: str, lineno: int | None = None) -> None:
        super().__init__(f"{message} (in template {template!r})")
        self.template = template
        self.message = message
        self.lineno = lineno


class ArgumentsError(Error):
    """Arguments given to a pipeline do not match its params schema.

    Attributes:
        problems: One sentence per problem, e.g. ``param 'service' is required``.
    """

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid arguments: " + "; ".join(self.problems))
