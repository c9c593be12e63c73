"""The pipeline of issue 4 is accepted as written, compiles, and renders as documented."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from kontinue.dsl import (
    Plan,
    compile_pipeline,
    condition,
    pipeline_schema,
    render,
    validate_arguments,
    validate_file,
)
from kontinue.dsl._loader import load_document

EXAMPLE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata:
  name: release
  description: Build, test and ship a service
params:
  type: object
  properties:
    service: {type: string}
    replicas: {type: integer, default: 2}
  required: [service]
imports: [steps.py]          # Python modules or files registering functions
steps:
  - name: build
    script:
      image: alpine:3.20
      command: echo "building {{ params.service }}"
  - name: tests
    parallel:
      - name: unit
        script: {image: alpine:3.20, command: echo unit}
      - name: lint
        script: {image: alpine:3.20, command: echo lint}
  - name: soak
    sleep: 30s
  - name: approve
    suspend:
      displayName: Approve production deploy of {{ params.service }}
  - name: deploy
    when: "{{ params.replicas > 0 }}"
    call: deploy-service     # registered with @kontinue.function, or a pipeline file path
    with:
      service: "{{ params.service }}"
      replicas: "{{ params.replicas }}"
    retry: {retries: 3}
    timeout: {attempt: 5m}
result:
  deployed: "{{ steps.deploy.result }}"
"""


def _write(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text("# registers deploy-service\n", encoding="utf-8")
    path = tmp_path / "release.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


def test_the_example_matches_the_schema_as_written() -> None:
    data = load_document(EXAMPLE, "release.yaml").data
    jsonschema.Draft202012Validator(pipeline_schema()).validate(data)


def test_the_example_validates(tmp_path: Path) -> None:
    assert validate_file(_write(tmp_path)) == []


def test_the_example_compiles_to_the_documented_plan(tmp_path: Path) -> None:
    plan = compile_pipeline(_write(tmp_path))
    assert isinstance(plan, Plan)
    assert json.loads(plan.to_json()) == plan.to_dict()
    assert plan["apiVersion"] == "kontinue.cloud/v1alpha1"
    assert plan["kind"] == "PipelinePlan"
    assert plan.name == "release"
    assert plan["source"] == "release.yaml"
    assert plan["imports"] == ["steps.py"]
    assert [node["name"] for node in plan.steps] == ["build", "tests", "soak", "approve", "deploy"]
    assert [node["type"] for node in plan.steps] == [
        "script",
        "parallel",
        "sleep",
        "suspend",
        "call",
    ]
    build, tests, soak, approve, deploy = plan.steps
    assert build["script"] == {
        "image": "alpine:3.20",
        "command": 'echo "building {{ params.service }}"',
        "shell": ["/bin/sh", "-c"],
        "env": {},
        "workingDir": None,
        "outputs": None,
    }
    assert [b["name"] for b in tests["parallel"]["branches"]] == ["unit", "lint"]
    assert soak["sleep"] == {"duration": "30s"}
    assert approve["suspend"] == {
        "displayName": "Approve production deploy of {{ params.service }}",
        "description": None,
        "inputs": None,
    }
    assert deploy["when"] == "{{ params.replicas > 0 }}"
    assert deploy["retry"] == {"retries": 3, "backoff": "5s", "childPolicy": "None"}
    assert deploy["timeout"] == {"attempt": "5m0s", "overall": None}
    assert deploy["call"] == {
        "function": "deploy-service",
        "with": {"service": "{{ params.service }}", "replicas": "{{ params.replicas }}"},
    }
    assert plan["result"] == {"deployed": "{{ steps.deploy.result }}"}
    assert str(tmp_path) not in plan.to_json()


def test_the_example_renders_with_its_defaults(tmp_path: Path) -> None:
    plan = compile_pipeline(_write(tmp_path))
    params = validate_arguments(plan, {"service": "shop"})
    assert params == {"service": "shop", "replicas": 2}
    context = {"params": params, "steps": {}, "execution": {"name": "release-abc12"}}
    deploy = plan.steps[4]
    when = deploy["when"]
    assert when is not None
    assert condition(when, context) is True
    assert render(deploy["call"]["with"], context) == {"service": "shop", "replicas": 2}
    context["steps"] = {"deploy": {"result": {"url": "https://shop"}, "phase": "Completed"}}
    assert render(plan["result"], context) == {"deployed": {"url": "https://shop"}}


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    plan = compile_pipeline(_write(tmp_path))
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert again.to_json() == plan.to_json()
