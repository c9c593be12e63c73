"""Finding the Kubernetes API server as kubectl does: a kubeconfig, its context, or in-cluster."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kontinue.store._errors import StoreUnavailableError

__all__ = ["KubeConnection", "connect", "unreachable"]

_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
POOL_SIZE = 32  # concurrent requests of one process: functions, lease renewals, watches


@dataclass
class KubeConnection:
    """An `ApiClient` and the namespace the configuration names (kubectl's default)."""

    api_client: Any
    namespace: str
    server: str
    source: str  # "kubeconfig PATH (context NAME)" or "in-cluster"


def connect(kubeconfig: str | None = None, context: str | None = None) -> KubeConnection:
    """Configure the official client as kubectl would.

    In order: the `kubeconfig` file given, else `$KUBECONFIG` (the first file of the list),
    else `~/.kube/config` if it exists, else the in-cluster service account of a pod.
    `context` picks a context of the kubeconfig (default: its current context). The
    namespace is the context's, else the pod's, else `default`.

    Raises:
        StoreUnavailableError: no configuration is found, or it cannot be used.
    """
    from kubernetes import client, config

    loader = cast(Any, config)
    path = kubeconfig or _kubeconfig_from_env()
    configuration = client.Configuration()
    if path is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
        try:
            loader.load_incluster_config(client_configuration=configuration)
        except loader.ConfigException as exc:
            raise StoreUnavailableError(f"cannot use the in-cluster configuration: {exc}") from None
        namespace_file = _SERVICE_ACCOUNT / "namespace"
        namespace = (
            namespace_file.read_text().strip() if namespace_file.is_file() else "default"
        ) or "default"
        source = "in-cluster service account"
    else:
        if path is None:
            raise StoreUnavailableError(
                "no Kubernetes configuration found: pass --kubeconfig FILE, set KUBECONFIG, "
                "create ~/.kube/config, or run inside a pod with a service account"
            )
        if not Path(path).is_file():
            raise StoreUnavailableError(
                f"kubeconfig {path} does not exist; pass --kubeconfig FILE or set KUBECONFIG"
            )
        try:
            contexts, current = loader.list_kube_config_contexts(config_file=path)
            chosen = current
            if context is not None:
                chosen = next((c for c in contexts if c.get("name") == context), None)
                if chosen is None:
                    names = ", ".join(sorted(c.get("name", "") for c in contexts)) or "none"
                    raise StoreUnavailableError(
                        f"kubeconfig {path} has no context {context!r} (it has: {names})"
                    )
            loader.load_kube_config(
                config_file=path, context=context, client_configuration=configuration
            )
        except StoreUnavailableError:
            raise
        except loader.ConfigException as exc:
            raise StoreUnavailableError(f"cannot use kubeconfig {path}: {exc}") from None
        except Exception as exc:  # not YAML, or YAML of another shape (the client's TypeErrors)
            raise StoreUnavailableError(
                f"kubeconfig {path} is not a valid kubeconfig"
                f" ({type(exc).__name__}: {' '.join(str(exc).split())});"
                " pass --kubeconfig FILE of a kubeconfig (apiVersion: v1, kind: Config)"
            ) from None
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
        source = f"kubeconfig {path} (context {(chosen or {}).get('name', '?')})"
    configuration.connection_pool_maxsize = POOL_SIZE
    return KubeConnection(client.ApiClient(configuration), namespace, configuration.host, source)


def _kubeconfig_from_env() -> str | None:
    listed = os.environ.get("KUBECONFIG", "")
    for candidate in listed.split(os.pathsep):
        if candidate:
            return candidate
    default = Path.home() / ".kube" / "config"
    return str(default) if default.is_file() else None


def unreachable(host: str, exc: BaseException) -> str:
    """One line saying why the API server at `host` did not answer (urllib3's error, shortened).

    urllib3 wraps the cause (`MaxRetryError(reason=NewConnectionError("...: [Errno 111]
    Connection refused"))`) and repeats the URL; the user needs the host and the cause.
    """
    reason: BaseException = exc
    while isinstance(getattr(reason, "reason", None), BaseException):
        reason = reason.reason  # type: ignore[attr-defined]
    text = str(reason).strip() or type(reason).__name__
    if "Failed to establish a new connection: " in text:
        text = text.split("Failed to establish a new connection: ", 1)[1]
    elif text.startswith(("HTTPSConnection(", "HTTPConnection(")) and "): " in text:
        text = text.split("): ", 1)[1]  # "HTTPSConnection(host=..., port=...): <cause>"
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    if len(text) > 200:
        text = text[:200] + "..."
    return (
        f"cannot reach the Kubernetes API server at {host} ({text}); check that it runs and"
        " that your kubeconfig points at it"
    )
