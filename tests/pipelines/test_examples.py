"""Every example pipeline runs to the end on the embedded store, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli._paste import hints, paste
from tests.conftest import CLI, ROOT

PIPELINES = ROOT / "pipelines"


def _gates(result_stderr: str) -> list[str]:
    """The `approve with:` commands, exactly as printed."""
    return [h for h in hints(result_stderr) if h.startswith("kontinue resume ")]


def _run_to_end(cli: CLI, *args: str) -> tuple[object, list[str]]:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    approved = []
    for _ in range(5):
        gates = _gates(result.stderr)
        if not gates:
            break
        approved.append(gates[0].split()[3])
        result = paste(gates[0], cwd=ROOT)  # the hint works as printed
        assert result.returncode == 0, result.stderr
    assert "completed" in result.stderr.splitlines()[-1], result.stderr
    return json.loads(result.stdout), approved


def test_hello(cli: CLI) -> None:
    result, gates = _run_to_end(cli, "submit", str(PIPELINES / "hello.yaml"), "-p", "name=ada")
    assert result == {"greeted": "ada", "exitCode": 0}
    assert gates == []


def test_build_test_deploy_with_approval(cli: CLI) -> None:
    result, gates = _run_to_end(
        cli,
        "submit",
        str(PIPELINES / "build-test-deploy.yaml"),
        "-p",
        "service=shop",
        "--name",
        "btd",
    )
    assert gates == ["approve-production"]  # the step name, as the pipeline file says
    assert result == {
        "service": "shop",
        "version": "1.0.0",
        "replicas": 3,
        "staging": 0,
        "production": 0,
    }
    tree = cli("tree", "btd").stdout
    for step in ("btd-unit-tests", "btd-lint", "btd-integration-tests", "btd-deploy-production"):
        assert step in tree
    assert cli("logs", "btd", "lint").stdout.strip() == "lint is clean"
    unit = cli("logs", "btd", "unit-tests").stdout
    assert unit.strip() == "unit tests of shop pass"


def test_custom_python_step(cli: CLI) -> None:
    result, _ = _run_to_end(
        cli,
        "submit",
        str(PIPELINES / "custom-step.yaml"),
        "-p",
        "name=Ada",
        "-p",
        "excited=true",
        "--name",
        "cs",
    )
    assert result == {"message": "hello, Ada!"}
    assert cli("logs", "cs", "shout").stdout.strip() == "hello, Ada!"


def test_fan_out(cli: CLI) -> None:
    result, _ = _run_to_end(cli, "submit", str(PIPELINES / "fan-out.yaml"), "-p", "release=r43")
    assert isinstance(result, dict)
    assert result["release"] == "r43"
    assert [r["region"] for r in result["regions"]] == ["eu-west", "us-east", "ap-south"]
    assert all(r["verified"] for r in result["regions"])


@pytest.mark.parametrize("example", sorted(p.name for p in PIPELINES.glob("*.yaml")))
def test_every_example_validates(cli: CLI, example: str) -> None:
    result = cli("validate", str(PIPELINES / example))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": valid")


def test_bad_params_exit_2_naming_the_file(cli: CLI, tmp_path: Path) -> None:
    result = cli("submit", str(PIPELINES / "build-test-deploy.yaml"), "-p", "replicas=two")
    assert result.returncode == 2
    assert "build-test-deploy.yaml: " in result.stderr
    assert "service" in result.stderr and "replicas" in result.stderr
    assert "Traceback" not in result.stderr


GATED = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: gated}
steps:
  - name: approve
    suspend: {displayName: Go on?}
  - name: after
    script: {image: alpine:3.20, command: echo %s}
result: "{{ steps.after.result }}"
"""


def test_editing_the_file_never_changes_a_running_pipeline(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED % "original")
    first = cli("submit", str(path), "--name", "g")
    assert first.returncode == 0 and "waiting for approval: Go on?" in first.stderr
    path.write_text(GATED % "edited")
    resumed = cli("resume", "g")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == "original"
