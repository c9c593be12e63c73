"""Running the HTTP server beside the engine: a listening socket, uvicorn on a thread, and
the index and metrics fed from the engine's informer."""

from __future__ import annotations

import errno
import logging
import socket
import threading
from pathlib import Path
from typing import Any

from kontinue.api import Execution
from kontinue.runtime import REGISTRY, Informer, Registry
from kontinue.server._app import ServerState, create_app
from kontinue.server._auth import Auth, ConfigError
from kontinue.server._index import ExecutionIndex
from kontinue.server._metrics import Metrics
from kontinue.store import Store, WatchEvent

__all__ = ["HttpServer", "build_state", "follow_informer", "listen"]

log = logging.getLogger("kontinue.server")


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, so a taken port is a clear error before anything runs.

    Raises:
        ConfigError: the address cannot be used, with the reason and the fix.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = {
            errno.EADDRINUSE: "another process listens there; pick another --port",
            errno.EACCES: "ports below 1024 need privileges; pick a --port above 1024",
            errno.EADDRNOTAVAIL: "this machine has no such address; check --host",
        }.get(exc.errno or 0, "check --host and --port")
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; {hint}") from None
    sock.set_inheritable(False)
    return sock


def follow_informer(
    informer: Informer, store: Store, index: ExecutionIndex | None, metrics: Metrics
) -> None:
    """Feed the list index and the metrics from the informer's changes, then read once."""

    def listener(events: list[WatchEvent], relisted: bool) -> None:
        executions = store.list(Execution, informer.namespace) if relisted else None
        if index is not None:
            index.apply(events, relisted, executions)
        if relisted:
            metrics.load(executions or [])
        else:
            metrics.observe(events)

    informer.listen(listener)
    informer.sync()


class HttpServer:
    """uvicorn serving the application on its own thread, stopped with `stop()`."""

    def __init__(self, state: ServerState, sock: socket.socket) -> None:
        import uvicorn

        self.state = state
        self.sock = sock
        self.config = uvicorn.Config(
            create_app(state),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            ws="none",
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, name="kontinue-http", daemon=True)

    @property
    def url(self) -> str:
        """Where the pages are, e.g. http://127.0.0.1:8080/."""
        host, port = self.sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> None:
        """Serve on the background thread."""
        self.thread.start()

    def stop(self) -> None:
        """End the event streams and stop serving (open requests get a moment to finish)."""
        loop = self.state.hub.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.state.hub.close)
            except RuntimeError:  # the loop ended meanwhile
                pass
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


def build_state(
    store: Store,
    auth: Auth,
    metrics: Metrics,
    *,
    runners: dict[str, Any],
    registry: Registry = REGISTRY,
    pipeline_dirs: list[Path] | None = None,
    namespace: str | None = None,
) -> ServerState:
    """The application's state over a store (the index starts empty until fed)."""
    state = ServerState(
        store=store,
        index=ExecutionIndex(store, namespace),
        auth=auth,
        metrics=metrics,
        runners=runners,
        registry=registry,
        pipeline_dirs=pipeline_dirs or [],
    )
    state.index.listeners.append(state.hub.publish)
    return state
