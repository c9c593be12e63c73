"""The Kubernetes runner: jobs are real `batch/v1` Jobs, owned by their Execution.

`start` creates the Job and, when one of that name exists (409 AlreadyExists: a worker
crashed after creating it), returns the existing one instead; `poll` reads the Job and its
pods (label `job-name=<name>`); `logs` and `follow` read a pod's log; `cancel` deletes the
Job with background propagation, which deletes its pods too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from kontinue.runners._kubejobs import JobWatch
from kontinue.runners._manifest import build_job_manifest, job_record
from kontinue.runners._names import kube_name
from kontinue.runners._protocol import JobNotFoundError, JobRequest, RunnerError
from kontinue.runners._types import JobRecord, PodRecord, RunnerKind

__all__ = ["KubernetesRunner", "build_job_manifest", "load_api_client"]


def load_api_client() -> Any:
    """An `ApiClient` configured in-cluster if running in a pod, else from the kubeconfig."""
    loader = cast(Any, config)  # the config module has no type annotations
    try:
        loader.load_incluster_config()
    except loader.ConfigException:
        loader.load_kube_config()
    return client.ApiClient()


class KubernetesRunner:
    """Runs jobs as Kubernetes Jobs through the official client.

    Args:
        api_client: A `kubernetes.client.ApiClient` (see `load_api_client`).
    """

    kind: RunnerKind = "kubernetes"

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)

    def _plain(self, obj: Any) -> Any:
        return self.api_client.sanitize_for_serialization(obj)

    def _check_owner(self, request: JobRequest) -> None:
        """The Job's owner must be an Execution resource in the cluster: otherwise the garbage
        collector deletes the Job as soon as it sees it (an owner uid that exists nowhere)."""
        owner = request.owner
        if owner is None:
            return
        custom = client.CustomObjectsApi(self.api_client)
        try:
            found = custom.get_namespaced_custom_object(
                "kontinue.cloud", "v1alpha1", request.namespace, "executions", owner.name
            )
        except ApiException as exc:
            if exc.status not in (404, 403):
                raise
            found = None
        uid = (found or {}).get("metadata", {}).get("uid") if isinstance(found, dict) else None
        if uid != owner.uid:
            raise RunnerError(
                f"the owner of job {request.job_name}, Execution {owner.name} (uid {owner.uid}), "
                f"does not exist in namespace {request.namespace} of the cluster: the kubernetes "
                "runner works only with the Kubernetes store (--store kubernetes), whose "
                "Executions are resources there"
            )

    def start(self, request: JobRequest) -> JobRecord:
        """Create the Job, or return the existing one of that name; never create two."""
        self._check_owner(request)
        manifest = build_job_manifest(request)
        try:
            job = self.batch.create_namespaced_job(request.namespace, cast(Any, manifest))
        except ApiException as exc:
            if exc.status != 409:
                raise
            record = self.poll(request.job_name, request.namespace)
            if record is None:
                raise RunnerError(
                    f"job {request.job_name} in namespace {request.namespace} already existed "
                    "but was deleted before it could be read; start it again"
                ) from exc
            return record
        return job_record(self._plain(job), [])

    def poll(self, name: str, namespace: str) -> JobRecord | None:
        """Read the Job and its pods; None if there is no such Job."""
        name = kube_name(name)
        try:
            job = self.batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}")
        return job_record(self._plain(job), [self._plain(p) for p in pods.items])

    def _target(
        self, name: str, namespace: str, pod: str | None, container: str | None
    ) -> tuple[PodRecord | None, str | None]:
        record = self.poll(name, namespace)
        if record is None:
            raise JobNotFoundError(f"there is no job {kube_name(name)} in namespace {namespace}")
        pod_record = record.pod(pod)
        if pod is not None and pod_record is None:
            raise JobNotFoundError(f"job {record.name} has no pod {pod}")
        if pod_record is not None and container is None and pod_record.containers:
            container = pod_record.containers[0].name
        return pod_record, container

    def logs(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A container's log from the API server (newest pod, first container by default).

        Raises:
            JobNotFoundError: no such job or pod.
        """
        pod_record, container = self._target(name, namespace, pod, container)
        if pod_record is None:
            return ""
        kwargs: dict[str, Any] = {"container": container}
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        if limit_bytes is not None:
            kwargs["limit_bytes"] = limit_bytes
        try:
            text = self.core.read_namespaced_pod_log(pod_record.name, namespace, **kwargs)
        except ApiException as exc:
            if exc.status == 400:  # the container has not started yet
                return ""
            if exc.status == 404:
                raise JobNotFoundError(f"pod {pod_record.name} is gone") from exc
            raise
        return str(text or "")

    def follow(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """Yield a container's log lines as the API server streams them, until it ends.

        Raises:
            JobNotFoundError: no such job or pod.
        """
        pod_record, container = self._target(name, namespace, pod, container)
        if pod_record is None:
            return iter(())
        kwargs: dict[str, Any] = {
            "name": pod_record.name,
            "namespace": namespace,
            "container": container,
        }
        if tail_lines is not None:
            kwargs["tail_lines"] = tail_lines
        watcher = cast(Any, watch).Watch()  # the watch module has no type annotations
        lines: Iterator[str] = watcher.stream(self.core.read_namespaced_pod_log, **kwargs)
        return lines

    def watch_jobs(self, namespace: str, on_change: Callable[[], None]) -> JobWatch:
        """A cache of this runner's Jobs in `namespace`, kept by a watch (see `JobWatch`);
        `on_change` is called on every change. Close it when done."""
        return JobWatch(self.api_client, namespace, on_change)

    def cancel(self, name: str, namespace: str) -> None:
        """Delete the Job and, in the background, its pods; a missing Job is fine."""
        try:
            self.batch.delete_namespaced_job(
                kube_name(name), namespace, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
