"""The check of a ``poll:`` step: a command's exit code or an HTTP GET's status, one try at a time.

`poll_until_named` calls the check once per wake-up and parks the Execution in between, so no
worker is held while waiting. The first try's time is journaled (`store_named`), so the
``timeout`` counts from it across restarts and replays. A single try is bounded too: the command
or the request gets at most the interval (and never more than `TRY_LIMIT` seconds).
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kontinue.api import parse_duration
from kontinue.runtime import Error, ErrorKind, ExecutionContext
from kontinue.sdk import StoreOptions, store_named

__all__ = ["TRY_LIMIT", "poll_check"]

TRY_LIMIT = 60.0
"""The most seconds one try of a poll check may take."""


def poll_check(
    ktx: ExecutionContext,
    step: str,
    spec: dict[str, Any],
    render: Callable[[Any, str], Any],
    render_command: Callable[[str], tuple[str, dict[str, str]]],
) -> Callable[[], bool]:
    """Build the condition `poll_until_named` calls: True once the check succeeds.

    Raises (from the condition):
        Error: the timeout passed since the first try (not retryable).
    """
    interval = parse_duration(spec["interval"]).total_seconds()
    limit = max(1.0, min(TRY_LIMIT, interval))
    timeout = parse_duration(spec["timeout"]) if spec.get("timeout") else None
    first = datetime.fromisoformat(
        store_named(ktx, StoreOptions(name=f"{step}-first-try"), lambda: ktx.now().isoformat())
    )

    def check() -> bool:
        if timeout is not None and ktx.now() - first >= timeout:
            raise Error(
                f'poll step "{step}" gave up: not ready {spec["timeout"]} after its first try',
                kind=ErrorKind.TIMEOUT,
                retryable=False,
            )
        if spec.get("http"):
            http = spec["http"]
            return _http(str(render(http["url"], "url")), int(http.get("status", 200)), limit)
        script = spec["script"]
        # values reach the command as env variables, never as shell text (see _shell.py)
        command, values = render_command(script["command"])
        env = {k: str(render(v, f"env {k}")) for k, v in (script.get("env") or {}).items()}
        # the check runs here with no `$(VAR)` expansion: the values' `$$` escapes go
        env.update({name: value.replace("$$", "$") for name, value in values.items()})
        return _command(command, env, limit)

    return check


def _http(url: str, status: int, limit: float) -> bool:
    if not url.startswith(("http://", "https://")):
        raise Error(
            f"poll url {url!r} must start with http:// or https://",
            kind=ErrorKind.VALIDATION,
            retryable=False,
        )
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=limit) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
    except (urllib.error.URLError, OSError, ValueError):
        return False  # not up yet: refused, unreachable, timed out
    return code == status


def _command(command: str, env: dict[str, str], limit: float) -> bool:
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", command],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0
