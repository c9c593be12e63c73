"""Parsing `key=value` arguments and argument files for `execute` and `submit`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from kontinue.cli._errors import UsageError
from kontinue.store import max_argument_bytes

MAX_ARGUMENT_BYTES = max_argument_bytes()
"""The largest arguments (or params) file accepted: 1 MiB (`KONTINUE_MAX_ARGUMENT_BYTES`)."""

__all__ = ["load_args_file", "parse_assignments"]


def _scalar(text: str) -> Any:
    if text == "":
        return ""
    from ruamel.yaml import YAML  # imported here: `kontinue list` never needs YAML
    from ruamel.yaml.error import YAMLError

    from kontinue.dsl._yaml_limits import YAMLLimitError, check_yaml

    try:
        check_yaml(text)
        value = YAML(typ="safe").load(io.StringIO(text))
    except YAMLLimitError as exc:
        raise UsageError(f"the value {_short(text)} cannot be read: {exc}") from None
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


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def read_text_file(path: str, what: str, limit: int) -> str:
    """The UTF-8 text of a small file the user names, or a one-line UsageError saying why not."""
    file = Path(path)
    if file.is_dir():
        raise UsageError(f"{what} {path} is a directory; give a YAML or JSON file")
    try:
        with file.open("rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise UsageError(
            f"{what} {path} is larger than {limit:,} bytes (KONTINUE_MAX_ARGUMENT_BYTES); pass "
            "big data by reference (a path or a URL), not as arguments"
        )
    if b"\0" in raw:
        raise UsageError(f"{what} {path} is a binary file; give a YAML or JSON file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); give a YAML or JSON file"
        ) from None


def load_args_file(path: str, what: str = "arguments file") -> dict[str, Any]:
    """Arguments from a YAML or JSON file holding a mapping."""
    text = read_text_file(path, what, MAX_ARGUMENT_BYTES)
    from ruamel.yaml import YAML  # imported here: `kontinue list` never needs YAML
    from ruamel.yaml.error import YAMLError

    from kontinue.dsl._yaml_limits import YAMLLimitError, check_yaml

    try:
        check_yaml(text)  # JSON is YAML to the pre-check: depth and aliases, with line:col
        data = json.loads(text) if path.endswith(".json") else YAML(typ="safe").load(text)
    except YAMLLimitError as exc:
        raise UsageError(f"{path}:{exc.line}:{exc.col}: {exc}") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deep to read; flatten it") from None
    except (ValueError, YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise UsageError(f"{path}{where}: cannot parse arguments file: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: arguments file must hold a mapping of names to values")
    return data
