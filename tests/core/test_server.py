"""`kontinue server` runs worker and controller; the CLI hands Executions over to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, ROOT

FNS = str(Path(__file__).parent / "fns_cli.py")


@pytest.mark.slow
def test_execute_and_submit_hand_over_to_a_running_server(cli: CLI, state_dir: Path) -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kontinue",
            "--state-dir",
            str(state_dir),
            "server",
            "--port",
            "0",
            "--import",
            FNS,
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "server.lock").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        second = cli("server")
        assert second.returncode == 2 and "already runs" in second.stderr

        handed = cli("execute", "greet", "-a", "name=srv", "--name", "via-server")
        assert handed.returncode == 0, handed.stderr
        assert "handed to the kontinue server" in handed.stderr
        pipeline = cli("submit", str(ROOT / "pipelines" / "hello.yaml"), "--name", "hello-srv")
        assert pipeline.returncode == 0, pipeline.stderr
        assert "handed to the kontinue server" in pipeline.stderr

        deadline = time.monotonic() + 60
        while True:
            one = json.loads(cli("get", "via-server", "-o", "json").stdout)
            two = json.loads(cli("get", "hello-srv", "-o", "json").stdout)
            if one["status"]["phase"] == "Completed" and two["status"]["phase"] == "Completed":
                break
            assert time.monotonic() < deadline, (one["status"], two["status"])
            time.sleep(0.2)
        assert one["status"]["result"]["greetings"] == ["hello srv #0", "hello srv #1"]
        assert two["status"]["result"] == {"greeted": "world", "exitCode": 0}
        functions = cli("functions").stdout
        assert "greet" in functions and "kontinue.pipeline" in functions
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    assert server.returncode == 0
