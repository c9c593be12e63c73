"""Values into script commands without ever becoming shell code.

A pipeline's `script.command` is shell text written by the pipeline's author; the values its
templates insert (params, step outputs, function results) come from whoever submits or from
earlier steps. They never become part of the script text: each `{{ expression }}` renders as a
reference to an environment variable (`KONTINUE_VALUE_1`, ...) that holds the value, quoted for
where it stands, the way GitHub Actions advises `env:` over inline expressions::

    echo hello {{ params.name }}        ->  echo hello "${KONTINUE_VALUE_1}"
    echo "hello, {{ params.name }}!"    ->  echo "hello, ${KONTINUE_VALUE_1}!"
    echo 'hello, {{ params.name }}'     ->  echo 'hello, '"${KONTINUE_VALUE_1}"''
    cat <<EOF                           ->  cat <<EOF
    name: {{ params.name }}                 name: ${KONTINUE_VALUE_1}

The shell expands a variable once and never parses its value again, so `$(id)`, `;`, quotes,
backticks or newlines in a value arrive as literal text. Inside `$(( ))` only numbers may be
inserted. `{{ x | raw }}` opts out and inserts the text as shell code: use it only for values
the pipeline's author controls. Both runners expand Kubernetes' `$(VAR)` syntax in env values,
so every `$` of a value is written `$$` there.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from kontinue.dsl._errors import TemplateError
from kontinue.dsl._template import PLACEHOLDER, render_string, render_values

__all__ = [
    "VALUE_PREFIX",
    "is_posix_shell",
    "kube_literal",
    "render_container",
    "render_env",
    "render_script",
]

VALUE_PREFIX = "KONTINUE_VALUE_"
"""Environment variables holding the values a script's command inserts."""

_POSIX_SHELLS = {"sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"}
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_WORD_START = set(" \t\n;&|()")
_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z0-9_.-]+))")


def kube_literal(value: str) -> str:
    """`value` escaped for a field where Kubernetes expands `$(VAR)` (env values, commands)."""
    return value.replace("$", "$$")


def is_posix_shell(shell: Sequence[str]) -> bool:
    """Whether the script's interpreter is a POSIX shell (`/bin/sh -c`, `bash -c`, ...)."""
    words = [w for w in shell if PurePosixPath(w).name != "env"]
    return bool(words) and PurePosixPath(words[0]).name in _POSIX_SHELLS


def render_env(text: str, context: Mapping[str, Any]) -> str:
    """Render an env value: inserted values as literal text (not `$(VAR)` references)."""
    rendered, values = render_values(text, context)
    return _fill(rendered, lambda i: kube_literal(values[i]))


def render_script(
    command: str, context: Mapping[str, Any], shell: Sequence[str]
) -> tuple[str, dict[str, str]]:
    """Render a script command; return the command and the env variables holding its values.

    Raises:
        TemplateError: the template fails, a value stands where it can't be kept literal
            (a quoted here-document, an arithmetic expansion given a non-number), or the
            interpreter is not a POSIX shell.
    """
    rendered, values = render_values(command, context)
    if not values:
        return rendered, {}
    if not is_posix_shell(shell):
        raise TemplateError(
            command,
            f"values cannot be inserted safely into a program for {shell[0]!r}; pass them in "
            "env: and read them from the environment there (or write {{ x | raw }} for text "
            "the pipeline's author controls)",
        )
    names: dict[str, str] = {}  # value -> variable, so one value is one variable
    env: dict[str, str] = {}

    def variable(index: int) -> str:
        value = values[index]
        if value not in names:
            names[value] = f"{VALUE_PREFIX}{len(names) + 1}"
            env[names[value]] = kube_literal(value)
        return names[value]

    return _Lexer(command, rendered, values, variable).run(), env


def _fill(text: str, value: Callable[[int], str]) -> str:
    parts = text.split(PLACEHOLDER)
    return "".join(value(int(p)) if i % 2 else p for i, p in enumerate(parts))


class _Lexer:
    """Walk shell text far enough to know the quoting around each placeholder.

    The states are a stack: top (unquoted), `'`, `"`, `` ` ``, `$(`, `$((`, `${`, and a
    here-document body. Getting a state wrong can only make the text wrong, never unsafe:
    every replacement is a variable reference.
    """

    def __init__(
        self, template: str, text: str, values: list[str], variable: Callable[[int], str]
    ) -> None:
        self.template, self.text, self.values, self.variable = template, text, values, variable
        self.stack: list[str] = ["top"]
        self.out: list[str] = []
        self.heredocs: list[tuple[str, bool, bool]] = []  # (delimiter, strip tabs, expands)

    def run(self) -> str:
        text, i = self.text, 0
        while i < len(text):
            i = self.step(text, i)
        return "".join(self.out)

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)

    def step(self, text: str, i: int) -> int:
        c, state = text[i], self.stack[-1]
        if c == PLACEHOLDER:
            end = text.index(PLACEHOLDER, i + 1)
            self.emit(self.reference(int(text[i + 1 : end]), state))
            return end + 1
        if state == "'":
            if c == "'":
                self.stack.pop()
            self.emit(c)
            return i + 1
        if c == "\\" and i + 1 < len(text) and text[i + 1] != PLACEHOLDER:
            self.emit(text[i : i + 2])
            return i + 2
        if state == '"':
            return self.in_double(text, i)
        return self.unquoted(text, i)

    def in_double(self, text: str, i: int) -> int:
        c = text[i]
        if c == '"':
            self.stack.pop()
        elif text.startswith("$((", i):
            self.stack.append("$((")
            self.emit("$((")
            return i + 3
        elif text.startswith("$(", i):
            self.stack.append("$(")
        elif text.startswith("${", i):
            self.stack.append("${")
        elif c == "`":
            self.stack.append("`")
        self.emit(c)
        return i + 1

    def unquoted(self, text: str, i: int) -> int:
        c, state = text[i], self.stack[-1]
        if c == "'":
            self.stack.append("'")
        elif c == '"':
            self.stack.append('"')
        elif c == "`":
            if state == "`":
                self.stack.pop()
            else:
                self.stack.append("`")
        elif text.startswith("$((", i):
            self.stack.append("$((")
            self.emit("$((")
            return i + 3
        elif text.startswith("$(", i):
            self.stack.append("$(")
            self.emit("$(")
            return i + 2
        elif text.startswith("${", i):
            self.stack.append("${")
            self.emit("${")
            return i + 2
        elif c == ")" and state in ("$(", "$(("):
            if state == "$((" and text.startswith("))", i):
                self.stack.pop()
                self.emit("))")
                return i + 2
            if state == "$(":
                self.stack.pop()
        elif c == "}" and state == "${":
            self.stack.pop()
        elif c == "#" and (i == 0 or text[i - 1] in _WORD_START) and state != "$((":
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            self.emit(_fill(text[i:end], lambda _: "<value>"))  # a comment: nothing runs
            return end
        elif c == "<" and text.startswith("<<", i) and not text.startswith("<<<", i):
            return self.heredoc_operator(text, i)
        elif c == "\n" and self.heredocs:
            self.emit(c)
            return self.heredoc_bodies(text, i + 1)
        self.emit(c)
        return i + 1

    def heredoc_operator(self, text: str, i: int) -> int:
        match = _HEREDOC.match(text, i)
        if match is None:
            self.emit("<<")
            return i + 2
        quoted = match.group(2) is not None or match.group(3) is not None
        quoted = quoted or match.group(0).lstrip("<-").lstrip().startswith("\\")
        word = match.group(2) or match.group(3) or match.group(4) or ""
        self.heredocs.append((word, bool(match.group(1)), not quoted))
        self.emit(match.group(0))
        return match.end()

    def heredoc_bodies(self, text: str, i: int) -> int:
        while self.heredocs:
            delimiter, strip, expands = self.heredocs.pop(0)
            while i < len(text):
                end = text.find("\n", i)
                end = len(text) if end < 0 else end
                line = text[i:end]
                if (line.lstrip("\t") if strip else line) == delimiter:
                    self.emit(line + text[end : end + 1])
                    i = end + 1
                    break
                self.emit(_fill(line, functools.partial(self.in_heredoc, expands=expands)))
                self.emit(text[end : end + 1])
                i = end + 1
        return i

    def in_heredoc(self, index: int, expands: bool) -> str:
        if not expands:
            raise TemplateError(
                self.template,
                "a value cannot be inserted into a quoted here-document (<<'EOF'), where the "
                "shell expands nothing; use an unquoted delimiter (<<EOF)",
            )
        return "${" + self.variable(index) + "}"

    def reference(self, index: int, state: str) -> str:
        value = self.values[index]
        if state == "$((":
            if not _NUMBER.fullmatch(value):
                raise TemplateError(
                    self.template,
                    f"the value {value[:60]!r} is inserted into an arithmetic expansion $(( )), "
                    "where only a number may stand",
                )
            return value
        name = "${" + self.variable(index) + "}"
        if state == '"':
            return name
        if state == "'":
            return "'\"" + name + "\"'"
        return '"' + name + '"'


def _script_index(argv: Sequence[str]) -> int | None:
    """Index of the script in `sh -c SCRIPT` / `bash -ec SCRIPT`, if argv runs one."""
    if not is_posix_shell(argv[:1]):
        return None
    for i, word in enumerate(argv[1:], 1):
        if word.startswith("-") and not word.startswith("--") and "c" in word[1:]:
            return i + 1 if i + 1 < len(argv) else None
    return None


def _words(value: Any, context: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """A command or args list as (word, written by the author); a template may give the list."""
    if value is None:
        return []
    if isinstance(value, str):
        rendered = render_string(value, context)
        items = rendered if isinstance(rendered, list) else [rendered]
        return [(w if isinstance(w, str) else json.dumps(w), False) for w in items]
    return [(w if isinstance(w, str) else json.dumps(w), True) for w in value]


def render_container(container: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Render a container's `command`, `args` and `env` so that no value becomes code.

    A shell script (`[sh, -c, SCRIPT]`, in `command` or `args`) is rendered by `render_script`,
    its values added to the container's env; every other word and env value gets the value as
    literal text (an argv word is never parsed by a shell).

    Raises:
        TemplateError: as `render_script`.
    """
    command = _words(container.get("command"), context)
    args = _words(container.get("args"), context)
    argv = command + args
    script = _script_index([w for w, _ in argv])
    values: dict[str, str] = {}
    words: list[str] = []
    for i, (word, written) in enumerate(argv):
        if not written:  # the value of a template that gave the whole list
            if i == script:
                raise TemplateError(
                    str(container.get("args") or container.get("command")),
                    "the shell script of this container would come from a value; write the "
                    "script in the pipeline and pass values in env:",
                )
            words.append(kube_literal(word))
        elif i == script:
            text, values = render_script(word, context, [argv[0][0]])
            words.append(text)
        else:
            words.append(render_env(word, context))
    env = [
        {**e, "value": render_env(e["value"], context)} if isinstance(e.get("value"), str) else e
        for e in container.get("env") or []
    ]
    taken = {str(e.get("name")) for e in env} & set(values)
    if taken:
        raise TemplateError(
            str(argv[script][0] if script is not None else ""),
            f"env {sorted(taken)[0]} is a name kontinue uses for the values a command inserts; "
            f"rename it (names starting {VALUE_PREFIX} are reserved)",
        )
    env += [{"name": k, "value": v} for k, v in values.items()]
    out = {**container, "env": env} if env else dict(container)
    if "command" in container:
        out["command"] = words[: len(command)]
    if "args" in container:
        out["args"] = words[len(command) :]
    return out
