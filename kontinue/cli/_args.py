"""Parsing `key=value` arguments and argument files for `execute` and `submit`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from kontinue.cli._errors import UsageError

__all__ = ["load_args_file", "parse_assignments"]


def _scalar(text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if text == "":
        return ""
    try:
        value = YAML(typ="safe").load(io.StringIO(text))
    except YAMLError:
        return text
    return text if value is None and text not in ("null", "~") else value


def parse_assignments(items: list[str], flag: str = "-a") -> dict[str, Any]:
    """Parse `["service=api", "replicas=3", "db.host=x"]` into nested values.

    The example gives `{"service": "api", "replicas": 3, "db": {"host": "x"}}`.

    Values are read as YAML scalars (numbers, booleans, null, quoted strings, [lists]).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"{flag} {item!r} is not of the form key=value (e.g. {flag} replicas=3)"
            )
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise UsageError(f"{flag} {item!r}: {part!r} was already given a plain value")
            target = nxt
        target[leaf] = _scalar(raw)
    return out


def load_args_file(path: str) -> dict[str, Any]:
    """Arguments from a YAML or JSON file holding a mapping."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"arguments file {path} does not exist")
    text = file.read_text()
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = json.loads(text) if path.endswith(".json") else YAML(typ="safe").load(text)
    except (ValueError, YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise UsageError(f"{path}{where}: cannot parse arguments file: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: arguments file must hold a mapping of names to values")
    return data
