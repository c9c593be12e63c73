"""`kontinue validate` of files and directories (text and JSON), `submit --dry-run`, the schema
line of every example, the unquoted-template trap, and a templated pipeline mutex."""

from __future__ import annotations

import json
from pathlib import Path

from kontinue.dsl import pipeline_schema
from tests.conftest import CLI, ROOT

PIPELINES = ROOT / "pipelines"
BROKEN = ROOT / "tests" / "dsl" / "broken"


def test_validate_takes_files_and_directories_and_reports_every_error_of_every_file(
    cli: CLI,
) -> None:
    cycle, unknown = BROKEN / "70-needs-cycle.yaml", BROKEN / "71-needs-unknown.yaml"
    result = cli("validate", str(PIPELINES), str(cycle), str(unknown))
    assert result.returncode == 2
    assert result.stdout.count(": valid") == 6  # every example, lib/rollout.yaml included
    assert result.stderr.count("form a cycle") == 3
    assert "71-needs-unknown.yaml:11:17: step 'report' needs 'smoek'" in result.stderr
    assert "6 of 8 pipeline files valid" in result.stderr
    assert cli("validate", str(PIPELINES)).returncode == 0


def test_validate_json_for_editors_and_ci(cli: CLI) -> None:
    bad = BROKEN / "76-invalid-job-spec.yaml"
    result = cli("validate", "--format", "json", str(bad), str(PIPELINES / "hello.yaml"))
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    first, second = doc["files"]
    assert second == {"file": str(PIPELINES / "hello.yaml"), "valid": True, "problems": []}
    assert first["valid"] is False
    assert {(p["line"], p["column"]) for p in first["problems"]} == {(9, 21), (15, 15)}
    comand = next(p for p in first["problems"] if "comand" in p["message"])
    assert comand["hint"] == "did you mean 'command'?"


def test_a_directory_without_pipelines_is_an_error(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    result = cli("validate", str(tmp_path))
    assert result.returncode == 2 and "no pipeline files" in result.stderr


def test_every_example_carries_the_schema_line() -> None:
    for example in sorted(PIPELINES.rglob("*.yaml")):
        first = example.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), example
        target = (example.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == ROOT / "schemas" / "pipeline.schema.json", example


def test_the_schema_documents_every_new_key_with_an_example() -> None:
    schema = pipeline_schema()
    step = schema["$defs"]["step"]["properties"]
    for key in ("forEach", "as", "maxParallel", "needs", "dag", "job", "pod", "poll"):
        assert "Example" in step[key]["description"], key
    for key in ("finally", "defaults"):
        assert "Example" in schema["properties"][key]["description"], key
    assert "Example" in step["suspend"]["properties"]["inputs"]["description"]
    assert "Example" in step["script"]["properties"]["outputs"]["description"]


def test_dry_run_prints_the_plan_resolved_by_params_and_submits_nothing(cli: CLI) -> None:
    result = cli(
        "submit",
        str(PIPELINES / "release-train.yaml"),
        "--dry-run",
        "-o",
        "json",
        "-p",
        "version=2.0.1",
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["arguments"] == {"version": "2.0.1", "healthUrl": "", "failRegion": ""}
    steps = {node["name"]: node for node in plan["steps"]}
    assert steps["approve"]["suspend"]["displayName"] == "Pick the regions for 2.0.1"
    # what only a run can know stays a template
    assert steps["deploy"]["forEach"]["items"] == "{{ steps.approve.inputs.regions }}"
    assert "{{ region }}" in steps["deploy"]["script"]["command"]
    assert '!= ""' in steps["deploy"]["script"]["command"]  # params.failRegion resolved
    wait = steps["checks"]["dag"]["tasks"][0]
    assert wait["when"] is False  # no healthUrl: the poll would be skipped
    assert "nothing was submitted" in result.stderr
    assert cli("list").stdout.strip() in ("", "No Executions.")
    assert "NAME" not in cli("list").stdout


def test_dry_run_still_refuses_bad_params(cli: CLI) -> None:
    result = cli("submit", str(PIPELINES / "release-train.yaml"), "--dry-run", "-p", "version=2")
    assert result.returncode == 2 and "param 'version' must be a string" in result.stderr


def test_the_unquoted_template_trap_names_the_fix(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "trap.yaml"
    path.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: trap}\n"
        "params: {type: object, properties: {who: {type: string}}}\nsteps:\n"
        "  - script: {image: alpine:3.20, command: echo hi {{ params.who }}}\n"
    )
    result = cli("validate", str(path))
    assert result.returncode == 2
    assert f"{path}:6:51: a {{{{ }}}} template must be quoted" in result.stderr
    assert 'write: - script: {image: alpine:3.20, command: "echo hi {{ params.who }}"}' in (
        result.stderr
    )


MUTEX = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: locked}
params: {type: object, properties: {env: {type: string, default: staging}}}
mutex: "deploy-{{ params.env }}"
steps:
  - script: {image: alpine:3.20, command: echo deployed}
"""


def test_a_pipeline_mutex_is_rendered_from_params(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "locked.yaml"
    path.write_text(MUTEX)
    result = cli("submit", str(path), "--name", "m1", "-p", "env=prod")
    assert result.returncode == 0, result.stderr
    got = json.loads(cli("get", "m1", "-o", "json").stdout)
    assert got["spec"]["mutex"] == {"name": "deploy-prod"}


def test_the_readme_pipeline_validates(cli: CLI, tmp_path: Path) -> None:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "kind: Pipeline" in b]
    assert blocks
    for index, block in enumerate(blocks):
        path = tmp_path / f"readme-{index}.yaml"
        path.write_text(block)
        result = cli("validate", str(path))
        assert result.returncode == 0, result.stderr
