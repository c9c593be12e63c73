"""Issue 9 item 6: private state — the state directory is 0700 and its files 0600 whatever the
umask, and an existing store readable by others is reported."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tests.conftest import KONTINUE, ROOT


def _run(state: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KONTINUE, "--state-dir", str(state), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=lambda: os.umask(umask),
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pipeline = ROOT / "pipelines" / "hello.yaml"
    done = _run(state, "submit", str(pipeline), "-p", "name=x", umask=0o000)
    assert done.returncode == 0, done.stderr
    assert _mode(state) == 0o700
    assert _mode(state / "kontinue.db") == 0o600
    jobs = state / "jobs" / "default"
    assert _mode(jobs) == 0o700  # the job logs below it
    assert "readable by other users" not in done.stderr


def test_an_existing_store_readable_by_others_is_reported(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _run(state, "submit", str(ROOT / "pipelines" / "hello.yaml")).returncode == 0
    (state / "kontinue.db").chmod(0o644)
    listed = _run(state, "list")
    assert listed.returncode == 0
    assert "kontinue.db" in listed.stderr and "readable by other users" in listed.stderr
    assert "chmod 600" in listed.stderr
