"""Health endpoints of a long-running `kontinue worker` or `kontinue controller`.

`--health-port PORT` serves, on all addresses of the pod:

- `GET /healthz` — 200 while the process's main loop is running (Kubernetes' liveness probe);
- `GET /readyz` — 200 when the store answered a cheap read within the last check, 503 with
  the reason otherwise (readiness: a pod that cannot reach the API server is not ready).

Only these two paths exist; every other request gets 404. The server runs in a daemon thread.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from typing import Any

from kontinue.cli._errors import UsageError

__all__ = ["HealthServer", "start_health"]


class HealthServer:
    """Serves /healthz and /readyz; `probe` raises when the store cannot be reached."""

    def __init__(self, port: int, alive: Callable[[], bool], probe: Callable[[], Any]) -> None:
        self.alive = alive
        self.probe = probe
        self._lock = threading.Lock()
        self._checked = 0.0
        self._problem: str | None = "not checked yet"
        health = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes come every few seconds: no log line each

            def do_GET(self) -> None:
                if self.path == "/healthz":
                    ok = health.alive()
                    text = "ok" if ok else "stopping"
                elif self.path == "/readyz":
                    problem = health.ready_problem()
                    ok, text = problem is None, problem or "ok"
                else:
                    self.send_error(404)
                    return
                body = (text + "\n").encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        try:
            self.server = http.server.ThreadingHTTPServer(("", port), Handler)
        except OSError as exc:
            raise UsageError(
                f"--health-port {port}: cannot listen there ({exc.strerror}); pick a free port"
            ) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def ready_problem(self) -> str | None:
        """None when the store answered lately; else why not. Checks at most once a second."""
        with self._lock:
            if time.monotonic() - self._checked >= 1.0:
                try:
                    self.probe()
                    self._problem = None
                except Exception as exc:
                    self._problem = f"store unreachable: {exc}"
                self._checked = time.monotonic()
            return self._problem

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_health(port: int | None, alive: Callable[[], bool], store: Any) -> Callable[[], None]:
    """Serve /healthz and /readyz on `port` (none: nothing); returns how to stop it."""
    if port is None:
        return lambda: None
    if not 0 < port < 65536:
        raise UsageError(f"--health-port {port}: use a port between 1 and 65535")
    server = HealthServer(port, alive, store.current_version).start()
    return server.stop
