"""Job manifests for the Kubernetes runner, validated against the Kubernetes 1.30 schema.

A real API server arrives with the Kubernetes-mode issue; until then the manifests are checked
with `kubernetes_validate` (strict: no unknown fields) and the record conversion with
API-shaped JSON.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import (
    ApiClient,
    V1Container,
    V1EnvVar,
    V1JobSpec,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
)

from kontinue.runners import (
    JobRequest,
    OwnerRef,
    build_job_manifest,
    job_record,
    job_spec_from_pod_spec,
    open_runner,
    script_pod_spec,
)

_OWNER = OwnerRef(name="deploy-7f2k", uid="0d3c1c7e-8e59-4a8e-9d0b-1b2c3d4e5f60")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    assert len(manifest["metadata"]["name"]) <= 63
    assert _DNS_LABEL.fullmatch(manifest["metadata"]["name"])


def test_run_pod_shaped_manifest() -> None:
    pod = V1PodSpec(
        containers=[
            V1Container(
                name="task",
                image="myapp:latest",
                command=["./run-task"],
                env=[V1EnvVar(name="MODE", value="fast")],
            )
        ]
    )
    request = JobRequest(
        name="deploy-7f2k-task",
        namespace="prod",
        spec=job_spec_from_pod_spec(pod),
        step="task",
        owner=_OWNER,
        labels={"team": "payments"},
        annotations={"kontinue.cloud/note": "x"},
    )
    manifest = build_job_manifest(request)
    _validate(manifest)

    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    meta = manifest["metadata"]
    assert (meta["name"], meta["namespace"]) == ("deploy-7f2k-task", "prod")
    expected_labels = {
        "team": "payments",
        "kontinue.cloud/execution": "deploy-7f2k",
        "kontinue.cloud/step": "task",
    }
    assert meta["labels"] == expected_labels
    assert meta["annotations"] == {"kontinue.cloud/note": "x", "kontinue.cloud/step": "task"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "kontinue.cloud/v1alpha1",
            "kind": "Execution",
            "name": "deploy-7f2k",
            "uid": _OWNER.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = manifest["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["metadata"]["labels"] == expected_labels
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "fast"}]


def test_run_job_shaped_manifest_keeps_the_job_spec() -> None:
    job = V1JobSpec(
        completions=3,
        parallelism=2,
        backoff_limit=4,
        active_deadline_seconds=600,
        ttl_seconds_after_finished=3600,
        template=V1PodTemplateSpec(
            metadata=V1ObjectMeta(labels={"app": "batch"}),
            spec=V1PodSpec(
                restart_policy="OnFailure",
                containers=[
                    V1Container(name="worker", image="worker:1", args=["--shard", "$(INDEX)"])
                ],
            ),
        ),
    )
    manifest = build_job_manifest(
        JobRequest(name="etl-run", namespace="data", spec=job, step="run", owner=_OWNER)
    )
    _validate(manifest)

    spec = manifest["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (3, 2, 4)
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert spec["template"]["metadata"]["labels"]["app"] == "batch"
    assert spec["template"]["metadata"]["labels"]["kontinue.cloud/step"] == "run"


def test_run_script_shaped_manifest() -> None:
    spec = job_spec_from_pod_spec(
        script_pod_spec("alpine:3.20", "echo 'Hello, World!'", env={"A": "1"}, working_dir="/tmp")
    )
    manifest = build_job_manifest(
        JobRequest(name="hello-script", namespace="default", spec=spec, step="script", owner=_OWNER)
    )
    _validate(manifest)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c", "echo 'Hello, World!'"]


def test_long_names_are_truncated_with_a_stable_hash() -> None:
    long_step = "migrate-database-" + "very-long-step-name-" * 5
    name = f"execution-with-a-long-name-{long_step}"
    request = JobRequest(
        name=name,
        namespace="default",
        step=long_step,
        owner=_OWNER,
        spec=job_spec_from_pod_spec(script_pod_spec("alpine", "true")),
    )
    manifest = build_job_manifest(request)
    _validate(manifest)

    job_name = manifest["metadata"]["name"]
    assert len(job_name) <= 63 and job_name.startswith("execution-with-a-long-name-")
    assert job_name == build_job_manifest(request)["metadata"]["name"]
    other = JobRequest(name=name + "-2", namespace="default", spec=request.spec)
    assert build_job_manifest(other)["metadata"]["name"] != job_name
    assert manifest["metadata"]["annotations"]["kontinue.cloud/job-name"] == name
    assert manifest["metadata"]["annotations"]["kontinue.cloud/step"] == long_step
    assert len(manifest["metadata"]["labels"]["kontinue.cloud/step"]) <= 63


def test_restart_policy_always_is_refused() -> None:
    spec = {
        "template": {
            "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}
        }
    }
    with pytest.raises(ValueError, match="restartPolicy 'Always' is not allowed"):
        build_job_manifest(JobRequest(name="x", namespace="default", spec=spec))


def _pod(name: str, created: str, phase: str, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"nodeName": "node-1", "containers": [{"name": "task", "image": "app:1"}]},
        "status": {
            "phase": phase,
            "startTime": created,
            "containerStatuses": [{"name": "task", "state": state}],
        },
    }


def test_job_record_from_api_json() -> None:
    job = {
        "metadata": {"name": "run", "namespace": "ns", "labels": {"kontinue.cloud/step": "s"}},
        "status": {
            "startTime": "2026-01-01T00:00:00Z",
            "failed": 2,
            "conditions": [
                {"type": "FailureTarget", "status": "True"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2026-01-01T00:01:00Z",
                },
            ],
        },
    }
    exited = {
        "terminated": {
            "exitCode": 3,
            "startedAt": "2026-01-01T00:00:31Z",
            "finishedAt": "2026-01-01T00:00:40Z",
        }
    }
    pods = [
        _pod("run-b", "2026-01-01T00:00:30Z", "Failed", exited),
        _pod("run-a", "2026-01-01T00:00:01Z", "Failed", exited),
    ]
    record = job_record(job, pods)

    assert (record.phase, record.reason, record.failed) == ("Failed", "BackoffLimitExceeded", 2)
    assert record.runner == "kubernetes" and record.labels == {"kontinue.cloud/step": "s"}
    assert [p.name for p in record.pods] == ["run-a", "run-b"]
    status = record.pods[0].containers[0]
    assert (status.exit_code, status.reason, status.image) == (3, "Error", "app:1")
    assert record.pods[0].node == "node-1" and record.pods[0].finished_at is not None
    assert record.finished_at is not None


def test_job_record_of_a_pending_pod_explains_the_wait() -> None:
    job = {
        "metadata": {"name": "run", "namespace": "ns"},
        "status": {"startTime": "2026-01-01T00:00:00Z", "active": 1},
    }
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}
    record = job_record(job, [_pod("run-a", "2026-01-01T00:00:01Z", "Pending", waiting)])

    assert record.phase == "Running" and record.finished_at is None
    pod = record.pods[0]
    assert pod.phase == "Pending"
    assert pod.message == "container task: ImagePullBackOff: Back-off pulling image"


def test_the_kubernetes_runner_opens_without_a_cluster() -> None:
    runner = open_runner("kubernetes", "/unused", api_client=ApiClient())
    assert runner.kind == "kubernetes"
