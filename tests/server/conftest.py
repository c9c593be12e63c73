"""A real `kontinue server` process per test, on a free port, and an HTTP client for it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import KONTINUE, ROOT

FNS = str(Path(__file__).parent / "fns_server.py")
PIPELINES = Path(__file__).parent / "pipelines"
_URL = re.compile(r"UI and API on (http://\S+)")


@dataclass
class Server:
    """A running `kontinue server`: its URL, its output so far, and a client."""

    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


StartServer = Callable[..., Server]


def launch(
    state_dir: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "server", "--port", "0", *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=cwd,
    )
    return process, []


@pytest.fixture
def start_server(state_dir: Path, tmp_path: Path) -> Iterator[StartServer]:
    """Start servers with the given flags (the test functions imported); all stop at the end."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        process, lines = launch(
            state_dir,
            "--import",
            FNS,
            "--pipelines",
            str(PIPELINES),
            *args,
            env=env,
            cwd=tmp_path,
        )
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            lines.append(line)
            found = _URL.search(line)
            if found:
                url = found.group(1)
                break
        assert url, f"the server did not start: {''.join(lines)}"

        def drain() -> None:
            assert process.stderr is not None
            for rest in process.stderr:
                lines.append(rest)

        threading.Thread(target=drain, daemon=True).start()
        server = Server(process, url, lines)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
