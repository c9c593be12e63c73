"""Durations as Kubernetes writes them (`90s`, `5m`, `1h30m`, `1.5h`), parsed to timedelta."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from kontinue.api._errors import Error, ErrorKind

__all__ = ["Duration", "DurationError", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


class DurationError(Error, ValueError):
    """A duration string that is not of the form `90s`, `5m` or `1h30m`."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Parse `90s`, `5m`, `1h30m`, `250ms` or `2d` (or a number of seconds) to a timedelta.

    Raises:
        DurationError: the value is not a duration; the message says what is accepted.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration; write it as e.g. 90s, 5m or 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(f"duration {value} is negative; durations must be 0 or more")
        return timedelta(seconds=value)
    text = str(value).strip()
    if text == "0":
        return timedelta(0)
    if not _WHOLE.fullmatch(text):
        raise DurationError(
            f"{text!r} is not a duration; write a number followed by a unit "
            "(ms, s, m, h, d), e.g. 90s, 5m or 1h30m"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way Go's time.Duration prints it (`1h30m0s`, `5s`, `250ms`)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    if total_ms < 1000:
        return f"{sign}{total_ms}ms"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = rest / 1000
    sec_text = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{sign}{minutes}m{sec_text}"
    return f"{sign}{sec_text}"


def _validate(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$|^0$"}),
]
"""A pydantic field type: accepts `5m`/`1h30m`/seconds, dumps to JSON as Go does (`5m0s`)."""
