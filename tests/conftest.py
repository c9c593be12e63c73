"""Shared fixtures: a real state directory per test and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KONTINUE = [sys.executable, "-m", "kontinue"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty embedded-store directory."""
    path = tmp_path / "state"
    path.mkdir()
    return path


CLI = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(state_dir: Path, tmp_path: Path) -> CLI:
    """Run `kontinue --state-dir STATE ARGS...` as a real process; returns the result."""

    def run(
        *args: str, timeout: float = 120, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
        return subprocess.run(
            [*KONTINUE, "--state-dir", str(state_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or tmp_path,
            env=env,
            check=False,
        )

    return run
