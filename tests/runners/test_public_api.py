"""The public names of kontinue.runners, its layering, and the runners it can open here."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import kontinue.runners as runners
from kontinue.runners import (
    ContainerRunner,
    LocalRunner,
    Runner,
    RunnerUnavailableError,
    detect_container_engine,
    open_runner,
)
from kontinue.runners._launch import engine_launch

PACKAGE = Path(runners.__file__).parent


def test_public_names_are_pinned() -> None:
    assert runners.__all__ == [
        "DEFAULT_SHELL",
        "EXECUTION_LABEL",
        "RUNNER_KINDS",
        "STEP_LABEL",
        "ContainerRunner",
        "ContainerStatus",
        "JobNotFoundError",
        "JobPhase",
        "JobRecord",
        "JobRequest",
        "KubernetesRunner",
        "LocalRunner",
        "OwnerRef",
        "PodPhase",
        "PodRecord",
        "Runner",
        "RunnerError",
        "RunnerKind",
        "RunnerUnavailableError",
        "V1Container",
        "V1EnvVar",
        "V1JobSpec",
        "V1PodSpec",
        "build_job_manifest",
        "detect_container_engine",
        "job_record",
        "job_spec_from_pod_spec",
        "kube_name",
        "label_value",
        "load_api_client",
        "log_error_summary",
        "open_runner",
        "pod_model",
        "pod_record",
        "script_pod_spec",
        "strip_ansi",
        "to_plain",
    ]
    for name in runners.__all__:
        assert getattr(runners, name) is not None, name


def test_kubernetes_models_are_re_exported() -> None:
    from kubernetes import client

    assert runners.V1PodSpec is client.V1PodSpec
    assert runners.V1JobSpec is client.V1JobSpec
    assert runners.V1Container is client.V1Container and runners.V1EnvVar is client.V1EnvVar


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_runners_import_no_higher_layer_and_kubernetes_only_where_needed() -> None:
    for path in PACKAGE.glob("*.py"):
        everything = _imports(path, top_level_only=False)
        higher = {
            m
            for m in everything
            if m.split(".")[:2]
            in (
                ["kontinue", "runtime"],
                ["kontinue", "sdk"],
                ["kontinue", "dsl"],
                ["kontinue", "cli"],
            )
        }
        assert not higher, f"{path.name} imports {higher}"
        eager = {m for m in _imports(path, top_level_only=True) if m.startswith("kubernetes")}
        if path.name != "_kubernetes.py":
            assert not eager, f"{path.name} imports {eager} at import time; import it lazily"


def test_open_runner() -> None:
    assert isinstance(open_runner("local", "/tmp/x"), LocalRunner)
    assert isinstance(open_runner("local", "/tmp/x"), Runner)
    with pytest.raises(ValueError, match="choose one of local, container, kubernetes"):
        open_runner("nomad", "/tmp/x")


def test_no_container_engine_answers_here() -> None:
    # The machines this suite runs on have a docker client but no engine: `docker info` fails.
    if shutil.which("podman") or Path("/var/run/docker.sock").exists():
        pytest.skip("this machine may run a container engine")
    assert detect_container_engine() is None
    with pytest.raises(RunnerUnavailableError, match="podman or docker"):
        open_runner("container", "/tmp/x")


def test_the_container_runner_runs_the_image_with_kubernetes_semantics(tmp_path: Path) -> None:
    runner = ContainerRunner(tmp_path, engine="podman")  # an explicit engine is not probed
    assert runner.kind == "container" and isinstance(runner, Runner)
    spec = {
        "name": "task",
        "image": "alpine:3.20",
        "command": ["/bin/sh", "-c"],
        "args": ["echo $(A)"],
        "env": [{"name": "A", "value": "1"}],
        "workingDir": "/w",
    }
    launch = engine_launch(spec, "podman", "default", "job-0")
    assert launch.argv == [
        "podman",
        "run",
        "--rm",
        "--name",
        "kontinue-default-job-0-task",
        "--hostname",
        "job-0",
        "--workdir",
        "/w",
        "--env",
        "A=1",
        "--entrypoint",
        "/bin/sh",
        "alpine:3.20",
        "-c",
        "echo 1",
    ]
    no_command = engine_launch({"name": "t", "image": "nginx"}, "docker", "ns", "p-0")
    assert no_command.argv[-1] == "nginx" and "--entrypoint" not in no_command.argv
