"""CLI errors: a user's mistake becomes one line and exit code 2, never a traceback."""

from __future__ import annotations

from kontinue.api import Error, ErrorKind

__all__ = ["UsageError"]


class UsageError(Error):
    """A mistake in what the user asked for; printed as `kontinue: error: ...`, exit 2."""

    default_kind, default_retryable = ErrorKind.VALIDATION, False

    exit_code = 2
