"""The few lines of a failed container's log that say why it failed."""

from __future__ import annotations

import re

__all__ = ["log_error_summary", "strip_ansi"]

# CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_ERROR = re.compile(r"error|fatal|panic|exception|failed|failure|\berr\b", re.IGNORECASE)
_TRACEBACK = "Traceback (most recent call last):"


def strip_ansi(text: str) -> str:
    """Remove ANSI colour and cursor escape sequences from `text`."""
    return _ANSI.sub("", text)


def _clean_lines(log_text: str) -> list[str]:
    lines = []
    for raw in strip_ansi(log_text).split("\n"):
        # A progress bar redraws its line after '\r'; only what was drawn last is visible.
        lines.append(raw.rstrip("\r").rsplit("\r", 1)[-1].rstrip())
    return lines


def _last_traceback(lines: list[str]) -> list[str] | None:
    start = next(
        (i for i in range(len(lines) - 1, -1, -1) if lines[i].lstrip().startswith(_TRACEBACK)), None
    )
    if start is None:
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = len(lines) - 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        # The exception line is the first one back at the header's indentation.
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            end = i
            break
    return [line for line in lines[start : end + 1] if line.strip()]


def log_error_summary(log_text: str, max_lines: int = 10) -> str:
    """Return the last meaningful error lines of a failed container's log.

    In order of preference: the last Python traceback (from `Traceback (most recent call
    last):` to the exception line; when longer than `max_lines`, its header and its last
    lines, which hold the innermost frames and the exception); else the last lines
    mentioning an error, failure, fatal, panic or exception (any case); else the last
    non-empty lines. ANSI colour codes are removed first.

    Args:
        log_text: The container's log.
        max_lines: The most lines returned (at least 1).

    Returns:
        The lines joined with newlines; empty if the log has no non-empty line.
    """
    limit = max(1, max_lines)
    lines = _clean_lines(log_text)
    traceback = _last_traceback(lines)
    if traceback:
        if len(traceback) <= limit:
            return "\n".join(traceback)
        if limit >= 3:
            return "\n".join([traceback[0], *traceback[-(limit - 1) :]])
        return "\n".join(traceback[-limit:])
    errors = [line for line in lines if line.strip() and _ERROR.search(line)]
    if errors:
        return "\n".join(errors[-limit:])
    return "\n".join([line for line in lines if line.strip()][-limit:])
