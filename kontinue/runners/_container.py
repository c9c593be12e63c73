"""The container runner (`--runner container`): local jobs whose containers podman or docker runs.

Experimental: no test runs a real container (the CI machines have no container engine); the
command lines it builds are tested, the engines' behaviour is not.

Records, logs, deadlines, retries and cancellation work exactly as in the local runner; only
the command line differs: `<engine> run --rm --name ... [--entrypoint command[0]] image
command[1:] + args`, so `command` and `args` keep their Kubernetes meaning and a container
without a command runs its image's entrypoint. Killing a container's `run` client also
removes the container (`<engine> rm --force`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kontinue.runners._launch import detect_container_engine, spec_problems
from kontinue.runners._local import LocalRunner
from kontinue.runners._protocol import JobRequest, RunnerUnavailableError
from kontinue.runners._types import RunnerKind

__all__ = ["ContainerRunner", "detect_container_engine"]


class ContainerRunner(LocalRunner):
    """Runs jobs' containers with a local container engine (podman or docker).

    Args:
        state_dir: Where job directories live, as for `LocalRunner`.
        engine: `podman` or `docker`; found with `detect_container_engine()` when None.
        grace_seconds: Seconds between SIGTERM and SIGKILL, as for `LocalRunner`.

    Raises:
        RunnerUnavailableError: no engine was given and none answers `<engine> info`.
    """

    kind: RunnerKind = "container"

    def __init__(
        self, state_dir: Path | str, engine: str | None = None, grace_seconds: float = 5.0
    ) -> None:
        super().__init__(state_dir, grace_seconds)
        found = engine or detect_container_engine()
        if found is None:
            raise RunnerUnavailableError(
                "the container runner needs podman or docker with a running engine, but "
                "neither `podman info` nor `docker info` succeeded here; start the engine, "
                "or use the local runner (--runner local)"
            )
        self.engine = found

    def _problems(self, request: JobRequest) -> list[str]:
        return spec_problems(request.pod_spec, needs_command=False)

    def _options(self, request: JobRequest) -> dict[str, Any]:
        return {**super()._options(request), "engine": self.engine}
