"""Fixtures for the runner tests: a local runner on a temporary state directory, and waits.

Helpers are handed out through the `jobs` fixture rather than imported, so this directory
needs no package or path set-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kontinue.runners import (
    JobRecord,
    JobRequest,
    LocalRunner,
    OwnerRef,
    job_spec_from_pod_spec,
    script_pod_spec,
)

WAIT_SECONDS = 20.0


class Jobs:
    """A `LocalRunner` plus the request builders and bounded waits the tests share."""

    namespace = "default"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.runner = LocalRunner(state_dir, grace_seconds=2.0)

    @staticmethod
    def script_request(name: str, script: str, **job: Any) -> JobRequest:
        """A run_script-shaped request: `script` under /bin/sh -c in one container."""
        spec = job_spec_from_pod_spec(script_pod_spec("alpine:3.20", script))
        spec.update(job)
        return JobRequest(
            name=name,
            namespace=Jobs.namespace,
            spec=spec,
            step=name,
            owner=OwnerRef(name="exec-1", uid="uid-1"),
        )

    @staticmethod
    def pod_request(name: str, pod_spec: dict[str, Any], **job: Any) -> JobRequest:
        """A run_pod-shaped request for `pod_spec`."""
        spec = job_spec_from_pod_spec(pod_spec)
        spec.update(job)
        return JobRequest(name=name, namespace=Jobs.namespace, spec=spec, step=name)

    @staticmethod
    def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
        """Poll `predicate` every 20 ms until it holds; fail naming `what` after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def run(self, request: JobRequest) -> JobRecord:
        """Start the job and wait for it to finish."""
        self.runner.start(request)
        return self.wait_finished(request.name)

    def wait_finished(self, name: str, runner: LocalRunner | None = None) -> JobRecord:
        """Poll the job until it has succeeded or failed, and return its record."""
        runner = runner or self.runner
        seen: list[JobRecord] = []

        def finished() -> bool:
            record = runner.poll(name, self.namespace)
            assert record is not None, f"job {name} vanished"
            seen.append(record)
            return record.finished

        self.wait_until(finished, f"job {name} to finish")
        return seen[-1]

    def wait_running(self, name: str, container: str = "script") -> JobRecord:
        """Poll until the newest pod's container has started, and return the record."""
        seen: list[JobRecord] = []

        def started() -> bool:
            record = self.runner.poll(name, self.namespace)
            assert record is not None and not record.finished, record
            seen.append(record)
            pod = record.last_pod
            status = pod.container(container) if pod else None
            return status is not None and status.started_at is not None

        self.wait_until(started, f"container {container} of job {name} to start")
        return seen[-1]

    def job_dir(self, name: str) -> Path:
        """The job's directory (layout documented in kontinue.runners._jobdir)."""
        return self.state_dir / "jobs" / self.namespace / name

    def container_pid(self, name: str, pod: str, container: str = "script") -> int:
        """The pid the runner recorded for a container's process group."""
        import json

        path = self.job_dir(name) / pod / f"{container}.pid"
        return int(json.loads(path.read_text())["pid"])

    @staticmethod
    def group_gone(pgid: int) -> bool:
        """True if no live process is left in process group `pgid` (zombies count as gone).

        A script's children (`sleep 30 &`) stay in its group: this sees them even when the
        script was killed before it could say their pids.
        """
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in "ZX":
                return False
        return True

    @staticmethod
    def process_gone(pid: int) -> bool:
        """True if `pid` has exited; a zombie (exited, not reaped) counts as gone.

        `os.kill(pid, 0)` alone cannot tell: it succeeds on zombies, and orphans whose parent
        died stay zombies on machines whose init does not reap them (this one's does not).
        """
        try:
            with open(f"/proc/{pid}/stat") as handle:
                text = handle.read()
        except FileNotFoundError:
            return True
        return text[text.rindex(")") + 2] in "ZX"


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path / "state")
