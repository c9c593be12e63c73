"""Resource models: the original platform's manifests load unchanged and go out JSON-plain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from kontinue.api import (
    API_VERSION,
    Execution,
    ExecutionRetry,
    Suspension,
    format_duration,
    parse_duration,
)

MANIFEST = """
apiVersion: kontinue.cloud/v1alpha1
kind: Execution
metadata:
  generateName: deploy-cluster-
  namespace: team-a
spec:
  function: deploy-cluster
  arguments:
    cluster: prod-eu
    nodes: 3
  retry:
    retries: 3
    backoff: 30s
    childPolicy: RetryFailed
  timeout:
    attempt: 5m
    overall: 1h30m
"""


def test_original_manifest_loads_unchanged() -> None:
    ex = Execution.model_validate(YAML(typ="safe").load(MANIFEST))
    assert ex.api_version == API_VERSION == "kontinue.cloud/v1alpha1"
    assert ex.metadata.generate_name == "deploy-cluster-"
    assert ex.spec.arguments == {"cluster": "prod-eu", "nodes": 3}
    assert ex.spec.retry == ExecutionRetry(
        retries=3, backoff=timedelta(seconds=30), child_policy="RetryFailed"
    )
    assert ex.spec.timeout is not None
    assert ex.spec.timeout.overall == timedelta(hours=1, minutes=30)
    assert ex.status.phase == "Pending"


def test_wire_form_is_camel_case_json() -> None:
    ex = Execution.model_validate(YAML(typ="safe").load(MANIFEST))
    wire = ex.wire()
    assert wire["spec"]["retry"] == {"retries": 3, "backoff": "30s", "childPolicy": "RetryFailed"}
    assert wire["spec"]["timeout"] == {"attempt": "5m0s", "overall": "1h30m0s"}
    assert wire["metadata"]["generateName"] == "deploy-cluster-"
    assert "generate_name" not in wire["metadata"]
    assert Execution.model_validate(wire) == ex


def test_defaults_match_the_original_platform() -> None:
    retry = ExecutionRetry()
    assert (retry.retries, retry.backoff, retry.child_policy) == (0, timedelta(seconds=5), "None")
    ex = Execution.model_validate({"spec": {"function": "f"}})
    assert ex.kind == "Execution"
    assert ex.spec.timeout is None


@pytest.mark.parametrize("phase", ["Running", "Done", "pending"])
def test_unknown_phase_is_rejected(phase: str) -> None:
    with pytest.raises(ValidationError):
        Execution.model_validate({"spec": {"function": "f"}, "status": {"phase": phase}})


def test_bad_duration_names_the_forms() -> None:
    with pytest.raises(ValidationError, match="1h30m"):
        Execution.model_validate({"spec": {"function": "f", "retry": {"backoff": "soon"}}})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2d", 172800), ("1.5h", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "1m30s"), (5, "5s"), (5400, "1h30m0s"), (0.25, "250ms"), (0, "0s")]
)
def test_format_duration_like_go(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


def test_suspension_model() -> None:
    sus = Suspension.model_validate(
        {"metadata": {"name": "x-approve"}, "spec": {"execution": "x", "step": "approve"}}
    )
    assert sus.spec.type == "Suspend"
    assert sus.status.resolved is False
