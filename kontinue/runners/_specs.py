"""Pod and Job specs as plain Kubernetes JSON: from client models, from pod specs, for scripts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

__all__ = ["DEFAULT_SHELL", "job_spec_from_pod_spec", "script_pod_spec", "to_plain"]

DEFAULT_SHELL: tuple[str, ...] = ("/bin/sh", "-c")
"""The shell a script runs under unless told otherwise, as in the Go SDK."""

_api_client: Any = None


def _sanitize(obj: Any) -> Any:
    # The kubernetes package takes a third of a second to import; only pay for it when a
    # caller really hands us one of its models.
    global _api_client
    if _api_client is None:
        from kubernetes.client import ApiClient

        _api_client = ApiClient()
    return _api_client.sanitize_for_serialization(obj)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "openapi_types") and hasattr(value, "attribute_map"):
        return _sanitize(value)
    raise TypeError(
        f"cannot turn a {type(value).__name__} into Kubernetes JSON; pass a dict or a model "
        "from kubernetes.client such as V1PodSpec"
    )


def to_plain(obj: Any) -> dict[str, Any]:
    """Turn a `kubernetes.client` model (e.g. `V1PodSpec`, `V1JobSpec`) or a dict into JSON.

    Models become the camelCase JSON the API server takes (`workingDir`, `restartPolicy`), with
    unset fields left out; dicts are copied deeply, dropping keys whose value is None, and
    any models nested in them are converted too.

    Raises:
        TypeError: the object is neither a mapping nor a Kubernetes client model.
    """
    plain = _plain(obj)
    if not isinstance(plain, dict):
        raise TypeError(f"expected a Kubernetes object or a dict, got {type(obj).__name__}")
    return plain


def job_spec_from_pod_spec(
    pod_spec: Any,
    backoff_limit: int = 0,
    active_deadline_seconds: int | None = None,
) -> dict[str, Any]:
    """Wrap a pod spec in a Job spec that runs it once (`run_pod`'s shape).

    Args:
        pod_spec: A `V1PodSpec` or its JSON dict.
        backoff_limit: How many times a failed pod is retried; 0 means exactly one pod.
        active_deadline_seconds: If set, the job fails with `DeadlineExceeded` after this long.

    Returns:
        A `batch/v1` JobSpec dict with `restartPolicy: Never` set on the pod template.
    """
    spec = to_plain(pod_spec)
    spec["restartPolicy"] = "Never"
    job: dict[str, Any] = {"template": {"spec": spec}, "backoffLimit": backoff_limit}
    if active_deadline_seconds is not None:
        job["activeDeadlineSeconds"] = active_deadline_seconds
    return job


def script_pod_spec(
    image: str,
    command: str,
    shell: Sequence[str] = DEFAULT_SHELL,
    env: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    name: str = "script",
) -> dict[str, Any]:
    """Return the pod spec that runs `command` under `shell` in `image` (`run_script`'s shape).

    Args:
        image: The container image, e.g. `alpine:3.20`.
        command: The script text; it is passed to the shell as one argument.
        shell: The shell and its flags, `["/bin/sh", "-c"]` by default.
        env: Environment variables for the script.
        working_dir: The directory the script starts in.
        name: The container's name.

    Returns:
        A PodSpec dict with one container and `restartPolicy: Never`.
    """
    container: dict[str, Any] = {"name": name, "image": image, "command": [*shell, command]}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if working_dir:
        container["workingDir"] = working_dir
    return {"containers": [container], "restartPolicy": "Never"}
