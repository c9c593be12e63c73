"""CLI errors: a user's mistake becomes one line and exit code 2, never a traceback."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A mistake in what the user asked for; printed as `kontinue: error: ...`, exit 2."""

    exit_code = 2
