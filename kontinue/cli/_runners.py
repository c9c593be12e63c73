"""The job runners of the embedded mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["embedded_runners"]


def embedded_runners(state_dir: Path) -> dict[str, Any]:
    """Runners keyed by name; `local` runs pod containers as local processes."""
    try:
        from kontinue.runners import LocalRunner
    except ImportError:  # the runners package is optional for pure-function use
        return {}
    return {"local": LocalRunner(state_dir)}
