"""The job runners of the embedded mode, chosen with `--runner`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kontinue.cli._errors import UsageError
from kontinue.runners import LocalRunner, RunnerUnavailableError, open_runner

__all__ = ["embedded_runners"]


def embedded_runners(state_dir: Path, kind: str = "local") -> dict[str, Any]:
    """Runners keyed by name, the one new jobs use first.

    `local` runs pod containers as local processes (the image is recorded, not pulled);
    `container` runs them with podman or docker when an engine answers. The local runner is
    always there too, so logs of earlier local steps stay readable.
    """
    runners: dict[str, Any] = {}
    if kind != "local":
        try:
            runners[kind] = open_runner(kind, state_dir)
        except RunnerUnavailableError as exc:
            raise UsageError(f"--runner {kind}: {exc}") from None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    runners["local"] = LocalRunner(state_dir)
    return runners
