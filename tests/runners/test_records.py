"""Records round-trip through JSON; names, specs and requests are built as Kubernetes wants."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pydantic
import pytest
from kubernetes.client import V1Container, V1EnvVar, V1PodSpec

from kontinue.runners import (
    ContainerStatus,
    JobRecord,
    JobRequest,
    OwnerRef,
    PodRecord,
    job_spec_from_pod_spec,
    kube_name,
    label_value,
    script_pod_spec,
    to_plain,
)

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _record() -> JobRecord:
    t0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    container = ContainerStatus(
        name="task",
        image="alpine:3.20",
        exit_code=3,
        started_at=t0,
        finished_at=t0,
        reason="Error",
        message="boom",
    )
    pod = PodRecord(
        name="job-0",
        phase="Failed",
        message="m",
        reason="DeadlineExceeded",
        init_containers=[ContainerStatus(name="init", exit_code=0)],
        containers=[container, ContainerStatus(name="side")],
        node="n1",
        started_at=t0,
    )
    return JobRecord(
        name="job",
        namespace="ns",
        runner="local",
        phase="Failed",
        succeeded=0,
        failed=1,
        message="why",
        reason="BackoffLimitExceeded",
        labels={"a": "b"},
        pods=[pod],
        started_at=t0,
        finished_at=t0,
    )


def test_records_round_trip_through_json_exactly() -> None:
    record = _record()
    data = record.to_json()

    assert json.loads(json.dumps(data)) == data  # JSON-plain
    assert data["pods"][0]["containers"][0]["exitCode"] == 3  # camelCase, like Kubernetes
    assert data["startedAt"] == "2026-01-02T03:04:05.123456Z"
    assert JobRecord.from_json(data) == record
    assert JobRecord.from_json(json.dumps(data)) == record
    assert JobRecord.from_json(record.dumps()) == record
    assert JobRecord.from_json(JobRecord.from_json(data).to_json()).to_json() == data


def test_records_are_frozen_and_have_helpers() -> None:
    record = _record()
    with pytest.raises(pydantic.ValidationError):
        record.phase = "Running"
    assert record.finished and record.last_pod is record.pods[0]
    assert record.pod("job-0") is record.pods[0] and record.pod("nope") is None
    assert record.pods[0].container() is record.pods[0].containers[0]
    assert record.pods[0].container("init") is record.pods[0].init_containers[0]
    assert not record.pods[0].all_exited_zero
    with pytest.raises(pydantic.ValidationError):
        JobRecord(name="x", namespace="y", runner="local", phase="Pending")  # type: ignore[arg-type]


def test_kube_name_keeps_valid_names_and_shortens_others_stably() -> None:
    assert kube_name("deploy-step-1") == "deploy-step-1"
    long_a, long_b = "a" * 70 + "-one", "a" * 70 + "-two"
    short_a = kube_name(long_a)
    assert len(short_a) <= 63 and _DNS_LABEL.fullmatch(short_a)
    assert short_a == kube_name(long_a)  # deterministic
    assert short_a != kube_name(long_b)  # the hash tells long names apart
    assert kube_name(short_a) == short_a  # idempotent
    odd = kube_name("My_Step.Name")
    assert _DNS_LABEL.fullmatch(odd) and odd.startswith("my-step-name-")
    with pytest.raises(ValueError):
        kube_name("")


def test_label_value_fits_kubernetes_rules() -> None:
    assert label_value("Deploy_v1.2") == "Deploy_v1.2"
    value = label_value("step/" + "x" * 80)
    assert len(value) <= 63
    assert re.fullmatch(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", value)


def test_to_plain_turns_client_models_into_camel_case_json() -> None:
    spec = V1PodSpec(
        containers=[
            V1Container(
                name="task",
                image="alpine",
                command=["./run"],
                working_dir="/app",
                env=[V1EnvVar(name="A", value="1")],
            )
        ]
    )

    assert to_plain(spec) == {
        "containers": [
            {
                "name": "task",
                "image": "alpine",
                "command": ["./run"],
                "workingDir": "/app",
                "env": [{"name": "A", "value": "1"}],
            }
        ]
    }
    assert to_plain({"template": {"spec": spec}, "x": None}) == {
        "template": {"spec": to_plain(spec)}
    }
    with pytest.raises(TypeError):
        to_plain(object())


def test_spec_builders() -> None:
    pod = script_pod_spec("alpine:3.20", "echo hi", env={"A": "1"}, working_dir="/w")
    assert pod == {
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "script",
                "image": "alpine:3.20",
                "command": ["/bin/sh", "-c", "echo hi"],
                "env": [{"name": "A", "value": "1"}],
                "workingDir": "/w",
            }
        ],
    }
    assert script_pod_spec("python", "print(1)", shell=["python", "-c"])["containers"][0][
        "command"
    ] == ["python", "-c", "print(1)"]
    job = job_spec_from_pod_spec(
        V1PodSpec(containers=[V1Container(name="c", image="i")]), active_deadline_seconds=30
    )
    assert job == {
        "backoffLimit": 0,
        "activeDeadlineSeconds": 30,
        "template": {
            "spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}
        },
    }


def test_job_request_labels_and_json() -> None:
    request = JobRequest(
        name="exec-1-build",
        namespace="ns",
        spec=job_spec_from_pod_spec(script_pod_spec("a", "b")),
        step="build",
        owner=OwnerRef(name="exec-1", uid="u-1"),
        labels={"team": "x"},
        annotations={"note": "y"},
    )

    assert request.all_labels() == {
        "team": "x",
        "kontinue.cloud/execution": "exec-1",
        "kontinue.cloud/step": "build",
    }
    assert JobRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
    with pytest.raises(ValueError, match="no pod template"):
        JobRequest(name="x", namespace="ns", spec={"backoffLimit": 0})
