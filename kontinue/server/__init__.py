"""`kontinue server`: the HTTP API, the web UI, auth modes and Prometheus metrics.

A client of the store like the CLI: it reads and changes resources only through the `Store`
protocol and the runtime's operations, so it serves the embedded store and Kubernetes alike.
"""

from kontinue.server._app import ApiError, ServerState, create_app
from kontinue.server._auth import AUTH_MODES, Auth, AuthError, ConfigError, Principal
from kontinue.server._events import Hub
from kontinue.server._index import ExecutionIndex
from kontinue.server._metrics import MeteredStore, Metrics
from kontinue.server._serve import HttpServer, build_state, follow_informer, listen

__all__ = [
    "AUTH_MODES",
    "ApiError",
    "Auth",
    "AuthError",
    "ConfigError",
    "ExecutionIndex",
    "HttpServer",
    "Hub",
    "MeteredStore",
    "Metrics",
    "Principal",
    "ServerState",
    "build_state",
    "create_app",
    "follow_informer",
    "listen",
]
