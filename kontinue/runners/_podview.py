"""A pod record as the `V1Pod` model of the Kubernetes client, the shape `PodResult.pod` has.

The reference's `PodResult.Pod` is a `*corev1.Pod`. Both runners keep a plain `PodRecord` in the
journal; this builds the Kubernetes model from it (metadata, phase, reason, message, start time
and each container's state), so code written against `result.pod.status.container_statuses`
reads the same on the local runner as on Kubernetes. `kubernetes` is imported only when asked.
"""

from __future__ import annotations

from typing import Any

from kontinue.runners._types import ContainerStatus, PodRecord

__all__ = ["pod_model"]


def _container(status: ContainerStatus) -> Any:
    from kubernetes import client

    if status.exit_code is not None:
        state = client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(
                exit_code=status.exit_code,
                reason=status.reason or ("Completed" if status.exit_code == 0 else "Error"),
                message=status.message or None,
                started_at=status.started_at,
                finished_at=status.finished_at,
            )
        )
    elif status.started_at is not None:
        state = client.V1ContainerState(
            running=client.V1ContainerStateRunning(started_at=status.started_at)
        )
    else:
        state = client.V1ContainerState(
            waiting=client.V1ContainerStateWaiting(
                reason=status.reason or None, message=status.message or None
            )
        )
    return client.V1ContainerStatus(
        name=status.name,
        image=status.image,
        image_id="",
        ready=status.exit_code is None and status.started_at is not None,
        restart_count=0,
        started=status.started_at is not None and status.exit_code is None,
        state=state,
    )


def pod_model(record: PodRecord, job: str, namespace: str, labels: dict[str, str]) -> Any:
    """The `kubernetes.client.V1Pod` describing `record`, a pod of job `job`."""
    from kubernetes import client

    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(
            name=record.name,
            namespace=namespace,
            labels={**labels, "job-name": job, "batch.kubernetes.io/job-name": job},
        ),
        spec=client.V1PodSpec(
            node_name=record.node or None,
            restart_policy="Never",
            containers=[client.V1Container(name=c.name, image=c.image) for c in record.containers],
            init_containers=[
                client.V1Container(name=c.name, image=c.image) for c in record.init_containers
            ]
            or None,
        ),
        status=client.V1PodStatus(
            phase=record.phase,
            reason=record.reason or None,
            message=record.message or None,
            start_time=record.started_at,
            container_statuses=[_container(c) for c in record.containers],
            init_container_statuses=[_container(c) for c in record.init_containers] or None,
        ),
    )
