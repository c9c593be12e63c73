"""A worker run alone serves the same Prometheus figures with --metrics-port."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from tests.conftest import CLI, start_kontinue, stop, wait_for
from tests.server.conftest import FNS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_worker_metrics_port(cli: CLI, state_dir: Path) -> None:
    port = free_port()
    worker = start_kontinue(state_dir, "worker", "--import", FNS, "--metrics-port", str(port))
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def scrape() -> str:
            try:
                return httpx.get(url, timeout=5).text
            except httpx.HTTPError:
                return ""

        wait_for(lambda: "kontinue_execution_states" in scrape(), what="the metrics server")
        made = cli("execute", "heals", "--no-wait", "--name", "w1", "--import", FNS)
        assert made.returncode == 0, made.stderr
        wait_for(lambda: 'result="error"' in scrape(), what="the failure to be counted")
        text = scrape()
        assert 'kontinue_executions_completed{function="heals",result="error"} 1.0' in text
        assert (
            'kontinue_execution_states{function="heals",namespace="default",state="Failed"' in text
        )
        assert (
            "kontinue_journal_writes{kind=" not in text or "kontinue_journal_write_seconds" in text
        )
        taken = cli("worker", "--import", FNS, "--metrics-port", str(port))
        assert taken.returncode == 2 and "pick another port" in taken.stderr
    finally:
        stop(worker)
