"""The live view: a rich tree on a terminal (checked on an emulated screen), lines elsewhere."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pyte

from tests.conftest import CLI, KONTINUE, ROOT, start_kontinue, stop

BTD = str(ROOT / "pipelines" / "build-test-deploy.yaml")


def _on_a_terminal(state_dir: Path, *args: str, env: dict[str, str] | None = None) -> pyte.Screen:
    """Run kontinue under a pseudo-terminal of 160x60 and return the screen it left."""
    cols, rows = 160, 60
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    environ.update({"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **(env or {})})
    process = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environ,
        cwd=state_dir.parent,
    )
    os.close(slave)
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                stream.feed(data)
            elif process.poll() is not None:
                break
    finally:
        process.wait(30)
        os.close(master)
    assert process.returncode == 0
    return screen


def test_submit_with_log_on_a_terminal_shows_the_tree_output_and_gate(
    state_dir: Path,
) -> None:
    screen = _on_a_terminal(
        state_dir, "submit", BTD, "-p", "service=shop", "--log", "--name", "btd"
    )
    text = "\n".join(line.rstrip() for line in screen.display)
    # the script output, prefixed by step, while it ran
    assert "build | building shop:1.0.0" in text
    assert "integration-tests | all green" in text
    # the tree, drawn in place: phases, progress of the pipeline and of the fan-out
    assert "btd (build-test-deploy)  Waiting" in text and "4/6" in text
    assert "Test suites  Completed" in text and "3/3" in text
    assert "Build the image  Completed" in text
    assert "deploy-production  Pending" in text
    assert "Approve the production deploy of shop 1.0.0  Waiting" in text
    assert "approve with: kontinue resume btd approve-production" in text
    assert text.count("btd (build-test-deploy)  ") == 1  # replaced in place, not printed again
    # colours on a terminal
    colours = {ch.fg for row in screen.buffer.values() for ch in row.values()}
    assert colours - {"default"}


def test_no_color_is_respected(state_dir: Path) -> None:
    screen = _on_a_terminal(
        state_dir, "submit", BTD, "-p", "service=shop", "--name", "nc", env={"NO_COLOR": "1"}
    )
    colours = {ch.fg for row in screen.buffer.values() for ch in row.values()}
    assert colours == {"default"}
    assert "Approve the production deploy" in "\n".join(screen.display)


def test_off_a_terminal_one_line_per_real_change(cli: CLI) -> None:
    result = cli("submit", BTD, "-p", "service=shop", "--log", "--name", "btd")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "build | building shop:1.0.0" in lines
    assert "deploy-staging | deploying shop:1.0.0 to staging" in lines
    steps = [ln for ln in lines if ln.startswith("  ") and "|" not in ln]
    # a step waiting on its script is Running once, never Pending or Suspended in between
    assert not any("Suspended" in ln or "Executing" in ln for ln in lines)
    assert len([ln for ln in steps if ln.strip().startswith("deploy-staging  Running")]) == 1
    for label in ("Build the image", "deploy-staging"):
        phases = [ln.split("  ")[2] for ln in steps if ln.strip().startswith(label + "  ")]
        assert phases[0] == "Running" and phases[-1] == "Completed", phases
        assert "Pending" not in phases
    assert "btd (build-test-deploy)  Waiting  [4/6]" in result.stderr
    assert "approve with: kontinue resume btd approve-production" in result.stderr


def test_watch_attaches_to_an_execution_run_elsewhere(cli: CLI, state_dir: Path) -> None:
    assert cli("submit", BTD, "-p", "service=shop", "--name", "w").returncode == 0
    parked = cli("watch", "w")
    assert parked.returncode == 0, parked.stderr
    assert "approve with: kontinue resume w approve-production" in parked.stderr
    assert cli("resume", "w", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker", "--with-controller")
    try:
        followed = cli("watch", "w", "--log")
    finally:
        stop(worker)
    assert followed.returncode == 0, followed.stderr
    assert "deploy-production | deploying shop to production with 3 replicas" in followed.stderr
    assert "Execution w completed" in followed.stderr
