"""`kontinue submit --dry-run`: the compiled plan with templates resolved as far as params allow.

Each ``{{ expression }}`` that reads only params is replaced by its value (a string that is
exactly one such expression keeps the value's type); expressions that read steps, execution,
``pipeline`` or a loop item are left as written, since they are only known at run time.
Strings with ``{% %}`` blocks are shown as written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kontinue.cli._render import dump
from kontinue.dsl import Plan, TemplateError, render_text
from kontinue.dsl._template import has_template, render_string

__all__ = ["dry_run", "resolve"]

_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)


def resolve(value: Any, params: dict[str, Any]) -> Any:
    """Render what params alone can render in a JSON tree; leave the rest as written."""
    if isinstance(value, str):
        return _string(value, params)
    if isinstance(value, dict):
        return {
            key: item if key in ("params", "pipeline") else resolve(item, params)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [resolve(item, params) for item in value]
    return value


def _string(text: str, params: dict[str, Any]) -> Any:
    if not has_template(text) or "{%" in text or "{#" in text:
        return text
    context = {"params": params}
    if _EXPRESSION.fullmatch(text.strip()):
        try:
            return render_string(text, context)
        except TemplateError:
            return text

    def one(match: re.Match[str]) -> str:
        try:
            return render_text(match.group(0), context)
        except TemplateError:
            return match.group(0)

    return _EXPRESSION.sub(one, text)


def dry_run(plan: Plan, params: dict[str, Any], output: str) -> str:
    """The text `kontinue submit --dry-run` prints: the arguments and the resolved plan."""
    doc = {"arguments": params, **resolve(plan.to_dict(), params)}
    if output == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return dump(doc, "yaml")
