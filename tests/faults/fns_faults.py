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


class UnprintableError(Exception):
    """An exception whose message cannot be read: recording it must still work."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


@kontinue.function("bad-str")
def bad_str(ktx: kontinue.ExecutionContext) -> None:
    raise UnprintableError("never shown")


@kontinue.function("recurse")
def recurse(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    """Executes itself without an end: the depth limit stops it."""
    return int(kontinue.execute(ktx, "recurse", {"n": args.get("n", 0) + 1})) + 1


@kontinue.function("busy")
def busy(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    """Runs without calling the SDK until a file appears, like a long computation."""
    import time
    from pathlib import Path

    with open(args["starts"], "a") as fh:
        fh.write("start\n")
    release = Path(args["release"])
    while not release.exists():
        time.sleep(0.05)
    return "done"


@kontinue.function("big-result")
def big_result(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    """Returns a string of `size` characters: over the result cap, it fails the Execution."""
    return "R" * int(args["size"])


@kontinue.function("big-step", retry=kontinue.RetryOptions(retries=3, backoff=FAST))
def big_step(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    """A step whose recorded outcome is `size` characters: over the cap, a final failure."""
    value = kontinue.store_named(
        ktx, kontinue.StoreOptions(name="fetch-report"), lambda: "S" * int(args["size"])
    )
    return len(value)
