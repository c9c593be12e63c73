"""Functions for the fault tests (imported by the CLI and by worker processes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import kontinue

FAST = timedelta(milliseconds=200)


def _script(ktx: kontinue.ExecutionContext, name: str, command: str) -> kontinue.PodResult:
    return kontinue.run_script(
        ktx, kontinue.ScriptOptions(name=name, image="alpine:3.20", command=command)
    )


@kontinue.function("flaky-script", retry=kontinue.RetryOptions(retries=2, backoff=FAST))
def flaky_script(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    """Runs a script and raises when it fails: the function's retries run it again."""
    result = _script(ktx, "flaky", args["command"])
    if not result.succeeded():
        raise RuntimeError(f"script failed with exit code {result.exit_code}")
    return ktx.attempts()


def _two_scripts(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    first = _script(ktx, "first", args["first"])
    second = _script(ktx, "second", args["second"])
    if not (first.succeeded() and second.succeeded()):
        raise kontinue.ErrJobFailed("a script failed")
    return "both ran"


kontinue.function(
    "two-scripts-retry-failed",
    retry=kontinue.RetryOptions(child_policy="RetryFailed"),
)(_two_scripts)
kontinue.function("two-scripts")(_two_scripts)


@kontinue.function("one-job")
def one_job(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> bool:
    """A Job step (batch/v1 spec) whose result the function turns into its outcome."""
    spec = {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "command": ["/bin/sh", "-c", args["command"]],
                    }
                ],
            }
        },
    }
    result = kontinue.run_job(ktx, kontinue.JobOptions(name="job", spec=spec))
    if not result.succeeded():
        raise kontinue.ErrJobFailed("the job failed")
    return True


@kontinue.function("one-pod")
def one_pod(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> bool:
    """A Pod step (PodSpec) whose result the function turns into its outcome."""
    spec = {
        "restartPolicy": "Never",
        "containers": [
            {"name": "main", "image": "busybox", "command": ["/bin/sh", "-c", args["command"]]}
        ],
    }
    result = kontinue.run_pod(ktx, kontinue.PodOptions(name="pod", spec=spec))
    if not result.succeeded():
        raise kontinue.ErrJobFailed("the pod failed")
    return True
