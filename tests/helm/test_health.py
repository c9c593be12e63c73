"""`--health-port` of `kontinue worker` and `kontinue controller`: what the chart's probes ask."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import KONTINUE, ROOT, start_kontinue, stop

FUNCTIONS = ROOT / "tests" / "helm" / "fns_health.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_answer(port: int, path: str, timeout: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(port, path)
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on port {port}"
            time.sleep(0.1)


def test_controller_and_worker_serve_health_and_readiness(state_dir: Path) -> None:
    ports = free_port(), free_port()
    controller = start_kontinue(state_dir, "controller", "--health-port", str(ports[0]))
    worker = start_kontinue(
        state_dir, "worker", "--import", str(FUNCTIONS), "--health-port", str(ports[1])
    )
    try:
        for port in ports:
            assert wait_answer(port, "/healthz") == (200, "ok\n")
            assert get(port, "/readyz") == (200, "ok\n")
            assert get(port, "/anything")[0] == 404
    finally:
        stop(controller)
        stop(worker)
    for port in ports:
        try:
            get(port, "/healthz")
            raise AssertionError(f"port {port} still answers after the process stopped")
        except OSError:
            pass


def test_a_taken_health_port_is_a_clear_error(state_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*KONTINUE, "--state-dir", str(state_dir), "controller", "--health-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    assert result.returncode == 2, result.stderr
    assert f"--health-port {port}: cannot listen there" in result.stderr
    assert "Traceback" not in result.stderr
