"""Kubernetes JSON in and out: a `JobRequest` as a `batch/v1` Job; a Job and its pods as a record.

Pure functions over plain dicts, so they are tested without a cluster (the manifests against
the Kubernetes OpenAPI schema with `kubernetes_validate`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from kontinue.runners._protocol import STEP_LABEL, JobRequest
from kontinue.runners._types import ContainerStatus, JobRecord, PodPhase, PodRecord

__all__ = ["JOB_NAME_ANNOTATION", "build_job_manifest", "job_record", "pod_record"]

JOB_NAME_ANNOTATION = "kontinue.cloud/job-name"
"""Holds the requested name when the Job's real name had to be shortened."""

_POD_PHASES = ("Pending", "Running", "Succeeded", "Failed")


def build_job_manifest(request: JobRequest) -> dict[str, Any]:
    """Return the `batch/v1` Job that runs `request`.

    The Job gets the request's (shortened, hashed if needed) name and namespace; the labels
    `kontinue.cloud/execution` and `kontinue.cloud/step` plus the extra labels, on the Job and
    on its pod template; the extra annotations, plus the full step name and, when the name was
    shortened, the requested name; an owner reference to the Execution (`controller` and
    `blockOwnerDeletion` set); `restartPolicy: Never` unless the spec chose `OnFailure`.
    `backoffLimit` and every other JobSpec field are kept as requested.

    Raises:
        ValueError: the pod template asks for `restartPolicy: Always`, which Jobs reject.
    """
    spec: dict[str, Any] = copy.deepcopy(dict(request.spec))
    labels = request.all_labels()
    template = dict(spec.get("template") or {})
    template_meta = dict(template.get("metadata") or {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    pod_spec = dict(template.get("spec") or {})
    policy = pod_spec.setdefault("restartPolicy", "Never")
    if policy not in ("Never", "OnFailure"):
        raise ValueError(
            f"job {request.job_name}: restartPolicy {policy!r} is not allowed in a Job; "
            "use Never (the default) or OnFailure"
        )
    spec["template"] = {**template, "metadata": template_meta, "spec": pod_spec}
    annotations = dict(request.annotations)
    if request.step:
        annotations[STEP_LABEL] = request.step
    if request.job_name != request.name:
        annotations[JOB_NAME_ANNOTATION] = request.name
    metadata: dict[str, Any] = {
        "name": request.job_name,
        "namespace": request.namespace,
        "labels": labels,
    }
    if annotations:
        metadata["annotations"] = annotations
    if request.owner is not None:
        metadata["ownerReferences"] = [request.owner.to_json()]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _container_status(name: str, image: str, status: Mapping[str, Any] | None) -> ContainerStatus:
    state: Mapping[str, Any] = (status or {}).get("state") or {}
    if terminated := state.get("terminated"):
        code = int(terminated.get("exitCode", 0))
        return ContainerStatus(
            name=name,
            image=image,
            exit_code=code,
            started_at=_time(terminated.get("startedAt")),
            finished_at=_time(terminated.get("finishedAt")),
            reason=terminated.get("reason") or ("Completed" if code == 0 else "Error"),
            message=terminated.get("message") or "",
        )
    if running := state.get("running"):
        return ContainerStatus(name=name, image=image, started_at=_time(running.get("startedAt")))
    waiting: Mapping[str, Any] = state.get("waiting") or {}
    return ContainerStatus(
        name=name,
        image=image,
        reason=waiting.get("reason") or "",
        message=waiting.get("message") or "",
    )


def _statuses(
    specs: list[Mapping[str, Any]], statuses: list[Mapping[str, Any]]
) -> list[ContainerStatus]:
    by_name = {s.get("name"): s for s in statuses}
    return [
        _container_status(c["name"], c.get("image") or "", by_name.get(c["name"])) for c in specs
    ]


def pod_record(pod: Mapping[str, Any]) -> PodRecord:
    """Summarise a Pod (as API JSON) as a `PodRecord`; an `Unknown` phase reads as `Pending`."""
    meta: Mapping[str, Any] = pod.get("metadata") or {}
    spec: Mapping[str, Any] = pod.get("spec") or {}
    status: Mapping[str, Any] = pod.get("status") or {}
    phase = status.get("phase")
    init = _statuses(spec.get("initContainers") or [], status.get("initContainerStatuses") or [])
    main = _statuses(spec.get("containers") or [], status.get("containerStatuses") or [])
    message = status.get("message") or "; ".join(
        f"container {c.name}: {c.reason}" + (f": {c.message}" if c.message else "")
        for c in (*init, *main)
        if c.exit_code is None and c.reason
    )
    finished = [c.finished_at for c in main if c.finished_at is not None]
    return PodRecord(
        name=meta.get("name") or "",
        phase=cast(PodPhase, phase if phase in _POD_PHASES else "Pending"),
        message=message,
        reason=status.get("reason") or "",
        init_containers=init,
        containers=main,
        node=spec.get("nodeName") or "",
        started_at=_time(status.get("startTime")),
        finished_at=max(finished) if phase in ("Succeeded", "Failed") and finished else None,
    )


def job_record(job: Mapping[str, Any], pods: list[Mapping[str, Any]]) -> JobRecord:
    """Summarise a Job and its pods (as API JSON) as a `JobRecord`.

    The phase comes from the Job's terminal conditions: `Complete` gives Succeeded, `Failed`
    gives Failed with its reason (`BackoffLimitExceeded`, `DeadlineExceeded`, ...) and
    message; anything else is Running. Pods are listed oldest first.
    """
    meta: Mapping[str, Any] = job.get("metadata") or {}
    status: Mapping[str, Any] = job.get("status") or {}
    phase: Any = "Running"
    reason = message = ""
    finished_at = _time(status.get("completionTime"))
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            phase = "Succeeded"
        elif condition.get("type") == "Failed":
            phase, reason = "Failed", condition.get("reason") or ""
            message = condition.get("message") or ""
            finished_at = finished_at or _time(condition.get("lastTransitionTime"))
    ordered = sorted(
        pods,
        key=lambda p: (
            str((p.get("metadata") or {}).get("creationTimestamp") or ""),
            str((p.get("metadata") or {}).get("name") or ""),
        ),
    )
    return JobRecord(
        name=meta.get("name") or "",
        namespace=meta.get("namespace") or "",
        runner="kubernetes",
        phase=phase,
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        message=message,
        reason=reason,
        labels=dict(meta.get("labels") or {}),
        pods=[pod_record(p) for p in ordered],
        started_at=_time(status.get("startTime") or meta.get("creationTimestamp")),
        finished_at=finished_at if phase != "Running" else None,
    )
