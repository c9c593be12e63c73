"""The CRDs in the chart are generated from the pydantic models, never drift from them, and
behave on a real API server (structural schema, status subresource, printer columns, names)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kontinue.api import KINDS, Execution, ExecutionSpec, ObjectMeta
from kontinue.api.crds import crd_manifest, crd_manifests, render, structural_schema

ROOT = Path(__file__).resolve().parent.parent.parent
CRDS = ROOT / "helm" / "kontinue" / "crds"


def test_checked_in_crds_match_the_models() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontinue.api.crds", "--check", str(CRDS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, (
        result.stderr + "\n(the models changed: regenerate the CRDs with "
        "`python -m kontinue.api.crds helm/kontinue/crds`)"
    )


def test_drift_is_detected_and_named(tmp_path: Path) -> None:
    for name, manifest in crd_manifests().items():
        (tmp_path / name).write_text(render(manifest))
    victim = tmp_path / "executions.kontinue.cloud.yaml"
    victim.write_text(victim.read_text().replace("- kex\n", "- kx\n"))
    result = subprocess.run(
        [sys.executable, "-m", "kontinue.api.crds", "--check", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "executions.kontinue.cloud.yaml: differs from the models" in result.stderr
    assert "python -m kontinue.api.crds" in result.stderr
    # Writing repairs it.
    subprocess.run(
        [sys.executable, "-m", "kontinue.api.crds", str(tmp_path)], check=True, capture_output=True
    )
    assert victim.read_text() == render(crd_manifests()["executions.kontinue.cloud.yaml"])


def test_every_kind_has_a_crd() -> None:
    names = {m["spec"]["names"]["kind"] for m in crd_manifests().values()}
    assert names == set(KINDS)
    files = {p.name for p in CRDS.glob("*.yaml")}
    assert files == {f"{cls.PLURAL}.kontinue.cloud.yaml" for cls in KINDS.values()}


def _walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_schemas_are_structural(kind: str) -> None:
    schema = crd_manifest(KINDS[kind])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    text = json.dumps(schema)
    for forbidden in ('"$ref"', '"anyOf"', '"oneOf"', '"allOf"', '"const"', '"title"', '"default"'):
        assert forbidden not in text, forbidden
    for path, node in _walk(schema):
        # Every node has a type, unless it keeps any value on purpose.
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields"), path


def test_optional_fields_are_nullable_and_free_values_kept() -> None:
    spec = crd_manifest(Execution)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec_props = spec["properties"]["spec"]["properties"]
    assert spec_props["retry"]["nullable"] is True
    assert spec_props["arguments"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert spec["properties"]["spec"]["required"] == ["function"]
    status = spec["properties"]["status"]["properties"]
    assert status["phase"]["enum"][0] == "Pending"
    assert status["startTime"]["format"] == "date-time"
    assert structural_schema({"type": "object", "additionalProperties": {"type": "string"}}) == {
        "type": "object",
        "additionalProperties": {"type": "string"},
    }
    assert structural_schema({"const": "x", "type": "string"}) == {"type": "string", "enum": ["x"]}


def test_names_columns_and_subresources() -> None:
    manifests = {m["spec"]["names"]["kind"]: m for m in crd_manifests().values()}
    execution = manifests["Execution"]["spec"]
    assert "kex" in execution["names"]["shortNames"]
    assert execution["names"]["categories"] == ["kontinue"]
    columns = [c["name"] for c in execution["versions"][0]["additionalPrinterColumns"]]
    assert columns[:6] == ["Function", "Phase", "Progress", "Of", "Message", "Age"]
    assert execution["versions"][0]["subresources"] == {"status": {}}
    assert "subresources" not in manifests["Function"]["spec"]["versions"][0]
    group = [
        c["jsonPath"]
        for c in manifests["Function"]["spec"]["versions"][0]["additionalPrinterColumns"]
    ]
    assert ".spec.workerGroup" in group


def test_checked_in_files_are_plain_yaml_crds() -> None:
    yaml = YAML(typ="safe")
    for path in CRDS.glob("*.yaml"):
        (obj,) = list(yaml.load_all(path.read_text()))
        assert obj["kind"] == "CustomResourceDefinition"
        assert obj["metadata"]["name"] == path.name.removesuffix(".yaml")


# --- on the test cluster --------------------------------------------------------------------


@pytest.fixture
def api(kube_cluster: Path) -> Iterator[Any]:
    from kubernetes import config

    api_client = config.new_client_from_config(config_file=str(kube_cluster))
    yield api_client
    api_client.close()


@pytest.fixture
def namespace(api: Any) -> Iterator[str]:
    from kubernetes import client

    name = f"crd-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(api).delete_namespace(name)


def test_the_cluster_serves_the_generated_crds(api: Any) -> None:
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    for manifest in crd_manifests().values():
        served = ext.read_custom_resource_definition(manifest["metadata"]["name"])
        conditions = {c.type: c.status for c in served.status.conditions}
        assert conditions.get("Established") == "True"
        assert conditions.get("NonStructuralSchema") is None, manifest["metadata"]["name"]
        assert served.spec.names.short_names == manifest["spec"]["names"].get("shortNames")


def test_an_execution_round_trips_with_status_subresource_and_columns(
    api: Any, namespace: str
) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    execution = Execution(
        metadata=ObjectMeta(name="e1", namespace=namespace, labels={"team": "a"}),
        spec=ExecutionSpec(function="process-order", arguments={"orderId": "12345", "n": [1, 2]}),
    )
    body = execution.wire()
    body["metadata"] = {"name": "e1", "labels": {"team": "a"}}
    created = custom.create_namespaced_custom_object(
        "kontinue.cloud", "v1alpha1", namespace, "executions", body
    )
    # Free-form arguments are kept as they are.
    assert created["spec"]["arguments"] == {"orderId": "12345", "n": [1, 2]}
    # Status goes through the status subresource only; a spec change there is ignored.
    patched = custom.patch_namespaced_custom_object_status(
        "kontinue.cloud",
        "v1alpha1",
        namespace,
        "executions",
        "e1",
        {
            "spec": {"function": "other"},
            "status": {"phase": "Executing", "progress": {"current": 2, "max": 5}, "message": "hi"},
        },
    )
    assert patched["spec"]["function"] == "process-order"
    assert patched["status"]["phase"] == "Executing"
    assert Execution.model_validate(patched).status.progress is not None
    # A bad phase is refused by the schema, naming the field.
    with pytest.raises(client.ApiException) as info:
        custom.patch_namespaced_custom_object_status(
            "kontinue.cloud",
            "v1alpha1",
            namespace,
            "executions",
            "e1",
            {"status": {"phase": "Sleeping"}},
        )
    assert info.value.status == 422 and "status.phase" in info.value.body
    # kubectl's table: the printer columns.
    method, url, headers, _, _ = api.param_serialize(
        "GET",
        f"/apis/kontinue.cloud/v1alpha1/namespaces/{namespace}/executions",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, header_params=headers)
    response.read()
    table = json.loads(response.data)
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:7] == ["Name", "Function", "Phase", "Progress", "Of", "Message", "Age"]
    row = table["rows"][0]["cells"]
    assert row[:6] == ["e1", "process-order", "Executing", 2, 5, "hi"]
