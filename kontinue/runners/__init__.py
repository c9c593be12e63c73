"""Where jobs, pods and scripts run: local processes, a container engine, or Kubernetes Jobs.

The SDK's `run_job`, `run_pod` and `run_script` ask the runtime, which builds a `JobRequest`
and hands it to a `Runner`; a parked Execution keeps only the job's name, and whichever
process polls it later finds it again by that name. `open_runner` picks the implementation:

- `local`: `LocalRunner`, containers as local processes (images are not pulled);
- `container`: `ContainerRunner`, containers run by podman or docker;
- `kubernetes`: `KubernetesRunner`, real `batch/v1` Jobs.

`kubernetes` itself is imported only when a Kubernetes name is first used (the local
supervisor process starts without it); `V1PodSpec`, `V1JobSpec`, `V1Container` and
`V1EnvVar` are re-exported so callers can write specs without importing `kubernetes`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kontinue.runners._container import ContainerRunner, detect_container_engine
from kontinue.runners._local import LocalRunner
from kontinue.runners._manifest import build_job_manifest, job_record, pod_record
from kontinue.runners._names import kube_name, label_value
from kontinue.runners._podview import pod_model
from kontinue.runners._protocol import (
    EXECUTION_LABEL,
    STEP_LABEL,
    JobNotFoundError,
    JobRequest,
    OwnerRef,
    Runner,
    RunnerError,
    RunnerUnavailableError,
)
from kontinue.runners._specs import DEFAULT_SHELL, job_spec_from_pod_spec, script_pod_spec, to_plain
from kontinue.runners._summary import log_error_summary, strip_ansi
from kontinue.runners._types import (
    ContainerStatus,
    JobPhase,
    JobRecord,
    PodPhase,
    PodRecord,
    RunnerKind,
)

if TYPE_CHECKING:
    from kubernetes.client import V1Container, V1EnvVar, V1JobSpec, V1PodSpec

    from kontinue.runners._kubernetes import KubernetesRunner, load_api_client

__all__ = [
    "DEFAULT_SHELL",
    "EXECUTION_LABEL",
    "RUNNER_KINDS",
    "STEP_LABEL",
    "ContainerRunner",
    "ContainerStatus",
    "JobNotFoundError",
    "JobPhase",
    "JobRecord",
    "JobRequest",
    "KubernetesRunner",
    "LocalRunner",
    "OwnerRef",
    "PodPhase",
    "PodRecord",
    "Runner",
    "RunnerError",
    "RunnerKind",
    "RunnerUnavailableError",
    "V1Container",
    "V1EnvVar",
    "V1JobSpec",
    "V1PodSpec",
    "build_job_manifest",
    "detect_container_engine",
    "job_record",
    "job_spec_from_pod_spec",
    "kube_name",
    "label_value",
    "load_api_client",
    "log_error_summary",
    "open_runner",
    "pod_model",
    "pod_record",
    "script_pod_spec",
    "strip_ansi",
    "to_plain",
]

RUNNER_KINDS: tuple[RunnerKind, ...] = ("local", "container", "kubernetes")
"""The values `open_runner` (and `--runner`) accept."""

_KUBERNETES_MODELS = ("V1Container", "V1EnvVar", "V1JobSpec", "V1PodSpec")
_KUBERNETES_RUNNER = ("KubernetesRunner", "load_api_client")


def __getattr__(name: str) -> Any:
    # PEP 562: import `kubernetes` on first use of a name that needs it.
    if name in _KUBERNETES_MODELS:
        import kubernetes.client

        return getattr(kubernetes.client, name)
    if name in _KUBERNETES_RUNNER:
        from kontinue.runners import _kubernetes

        return getattr(_kubernetes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_runner(kind: str, state_dir: Path | str, *, api_client: Any = None) -> Runner:
    """Return the runner called `kind`.

    Args:
        kind: `local`, `container` or `kubernetes`.
        state_dir: Where the local and container runners keep jobs (`<state_dir>/jobs/`);
            the Kubernetes runner ignores it.
        api_client: For `kubernetes`: the `ApiClient` to use; by default one configured
            in-cluster or from the kubeconfig.

    Raises:
        ValueError: `kind` is not one of `RUNNER_KINDS`.
        RunnerUnavailableError: `container` was asked for and no engine answers.
    """
    if kind == "local":
        return LocalRunner(state_dir)
    if kind == "container":
        return ContainerRunner(state_dir)
    if kind == "kubernetes":
        from kontinue.runners import _kubernetes

        client = api_client if api_client is not None else _kubernetes.load_api_client()
        return _kubernetes.KubernetesRunner(client)
    raise ValueError(f"unknown runner {kind!r}; choose one of {', '.join(RUNNER_KINDS)}")
