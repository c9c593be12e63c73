"""How a pod spec's container becomes a command line: a local process or a container engine run.

Kubernetes semantics are kept where a local machine can keep them: `command` replaces the
image's entrypoint and `args` follow it; `$(VAR)` in command, args and env values expands to
the container's own variables (`$$` escapes a `$`); `workingDir` is the starting directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kontinue.runners._names import kube_name

__all__ = [
    "Launch",
    "container_env",
    "detect_container_engine",
    "engine_container_name",
    "engine_launch",
    "local_launch",
    "pod_containers",
    "spec_problems",
]

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


@dataclass(frozen=True)
class Launch:
    """The argv, environment and directory one container is started with."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None


def _expand(text: str, env: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REF.sub(sub, text)


_Specs = list[dict[str, Any]]


def pod_containers(pod_spec: Mapping[str, Any]) -> tuple[_Specs, _Specs]:
    """Return the pod spec's (init containers, containers)."""
    return list(pod_spec.get("initContainers") or []), list(pod_spec.get("containers") or [])


def spec_problems(pod_spec: Mapping[str, Any], needs_command: bool) -> list[str]:
    """Every reason the pod spec cannot run on a local runner, as full sentences (or none).

    Args:
        pod_spec: The PodSpec JSON.
        needs_command: True for the local runner, which cannot read an image's entrypoint.
    """
    problems: list[str] = []
    init, main = pod_containers(pod_spec)
    if not main:
        problems.append("the pod spec has no containers; give at least one")
    if pod_spec.get("restartPolicy", "Never") not in ("Never", "OnFailure"):
        problems.append(
            f"restartPolicy {pod_spec.get('restartPolicy')!r} is not allowed in a "
            "Job; use Never (the default) or OnFailure"
        )
    for kind, containers in (("init container", init), ("container", main)):
        for spec in containers:
            name = spec.get("name") or "?"
            if needs_command and not spec.get("command"):
                problems.append(
                    f"{kind} {name!r} has no command: the local runner needs a command because "
                    f"the image {spec.get('image') or '(none)'} isn't pulled, so its entrypoint "
                    "is unknown; set `command` (or use --runner container or kubernetes)"
                )
            for var in spec.get("env") or []:
                if "valueFrom" in var:
                    problems.append(
                        f"{kind} {name!r}: env variable {var.get('name')!r} uses valueFrom, "
                        "which local runners do not support (no secrets, config maps or field "
                        "references here); give it a plain `value`"
                    )
            if spec.get("envFrom"):
                problems.append(
                    f"{kind} {name!r} uses envFrom, which local runners do not support; "
                    "list the variables under `env` with plain values"
                )
    return problems


def container_env(spec: Mapping[str, Any]) -> dict[str, str]:
    """The container's declared variables, each expanded against the ones before it."""
    env: dict[str, str] = {}
    for var in spec.get("env") or []:
        env[str(var["name"])] = _expand(str(var.get("value", "")), env)
    return env


def _argv(spec: Mapping[str, Any], env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    command = [_expand(str(a), env) for a in spec.get("command") or []]
    args = [_expand(str(a), env) for a in spec.get("args") or []]
    return command, args


def local_launch(spec: Mapping[str, Any], pod: str, default_cwd: str | None) -> Launch:
    """How the local runner starts a container: `command + args` as a process on this host.

    The process inherits this process's environment (for PATH and HOME), with `HOSTNAME` set
    to the pod's name as Kubernetes does, and the container's variables on top.
    """
    declared = container_env(spec)
    command, args = _argv(spec, declared)
    env = {**os.environ, "HOSTNAME": pod, **declared}
    return Launch([*command, *args], env, spec.get("workingDir") or default_cwd)


def engine_container_name(namespace: str, pod: str, container: str) -> str:
    """The engine's name for a container, so it can be removed when its client is killed."""
    return kube_name(f"kontinue-{namespace}-{pod}-{container}", max_length=120)


def engine_launch(spec: Mapping[str, Any], engine: str, namespace: str, pod: str) -> Launch:
    """How the container runner starts a container: `<engine> run --rm` of its image."""
    declared = container_env(spec)
    command, args = _argv(spec, declared)
    argv = [
        engine,
        "run",
        "--rm",
        "--name",
        engine_container_name(namespace, pod, spec["name"]),
        "--hostname",
        pod,
    ]
    if spec.get("workingDir"):
        argv += ["--workdir", spec["workingDir"]]
    for key, value in declared.items():
        argv += ["--env", f"{key}={value}"]
    if command:
        argv += ["--entrypoint", command[0]]
    argv.append(spec.get("image") or "")
    argv += [*command[1:], *args]
    return Launch(argv, dict(os.environ), None)


def detect_container_engine() -> str | None:
    """Return `podman` or `docker` if its CLI is installed and `<engine> info` succeeds.

    A Docker client without a running engine fails `docker info`, so it is not offered.
    """
    for engine in ("podman", "docker"):
        path = shutil.which(engine)
        if path is None:
            continue
        try:
            result = subprocess.run(
                [path, "info"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            return engine
    return None
