"""The detached supervisor of one local job: runs its pods' containers and keeps its record.

Started as ``python -m kontinue.runners._shim <job-dir>`` in a session of its own, so it
outlives the worker that started it. It runs pod attempts until the job succeeds or its
`backoffLimit` is spent: init containers one at a time, then the containers together, each in
its own process group, with their output written to per-container log files. It writes
`record.json` on every change, under the job's lock, and never overwrites a finished record.
SIGTERM (sent by `cancel`) stops the containers and ends the job as `Canceled`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from kontinue.runners._jobdir import JobDir
from kontinue.runners._launch import (
    Launch,
    engine_container_name,
    engine_launch,
    local_launch,
    pod_containers,
)
from kontinue.runners._procs import ProcessId, atomic_write_json, terminate_groups
from kontinue.runners._types import ContainerStatus, PodRecord, utcnow

__all__ = ["main"]

_DEFAULT_BACKOFF_LIMIT = 6  # Kubernetes' default
_START_ERROR_EXIT = 128  # what Kubernetes reports for a container that could not start


class _Stop(Exception):
    """The pod must stop now: deadline, cancellation, signal or a finished record."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Container:
    """One container of the current pod while it runs."""

    def __init__(self, spec: dict[str, Any], launch: Launch) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.launch = launch
        self.proc: subprocess.Popen[bytes] | None = None
        self.group: ProcessId | None = None
        self.status = ContainerStatus(name=self.name, image=spec.get("image") or "")


class Supervisor:
    """Runs one job to its end; see the module docstring."""

    def __init__(self, job: JobDir) -> None:
        """Load the job's request and options from its directory."""
        self.job = job
        self.request, options = job.read_request()
        self.engine: str | None = options.get("engine")
        self.cwd: str | None = options.get("cwd")
        self.grace = float(options.get("grace", 5))
        self.node = socket.gethostname()
        self.pods: list[PodRecord] = []
        self.signal: int | None = None
        self.wake = threading.Event()
        record = job.read_record()
        assert record is not None
        self.record = record
        spec = self.request.spec
        self.deadline: float | None = None
        if spec.get("activeDeadlineSeconds") and record.started_at is not None:
            due = record.started_at + timedelta(seconds=int(spec["activeDeadlineSeconds"]))
            self.deadline = due.timestamp()

    # -- the record -------------------------------------------------------------------------

    def publish(self, **changes: Any) -> None:
        """Write the record with `changes`, unless someone else already finished it."""
        with self.job.lock():
            current = self.job.read_record()
            if current is None or current.finished:
                raise _Stop("Superseded", "the job's record was finished by another process")
            self.record = self.record.model_copy(update={"pods": list(self.pods), **changes})
            self.job.write_record(self.record)

    def set_pod(self, pod: PodRecord) -> None:
        """Replace the newest pod's record (or add it if its name is new) and publish."""
        if self.pods and self.pods[-1].name == pod.name:
            self.pods[-1] = pod
        else:
            self.pods.append(pod)
        self.publish()

    # -- stopping ---------------------------------------------------------------------------

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """Remember the signal and wake the waiting loop."""
        self.signal = signum
        self.wake.set()

    def check_stop(self, pod_deadline: float | None) -> None:
        """Raise `_Stop` if the job was cancelled, signalled or is past a deadline."""
        if self.job.cancel_path.exists():
            raise _Stop("Canceled", "the job was canceled")
        if self.signal is not None:
            name = signal.Signals(self.signal).name
            raise _Stop("Terminated", f"the job's supervisor was stopped by {name}")
        now = time.time()
        if self.deadline is not None and now >= self.deadline:
            raise _Stop("DeadlineExceeded", "Job was active longer than specified deadline")
        if pod_deadline is not None and now >= pod_deadline:
            raise _Stop(
                "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
            )

    # -- containers -------------------------------------------------------------------------

    def launch(self, spec: dict[str, Any], pod: str) -> Launch:
        """The command line of a container on this runner."""
        if self.engine:
            return engine_launch(spec, self.engine, self.request.namespace, pod)
        return local_launch(spec, pod, self.cwd)

    def start(self, pod: str, container: _Container) -> None:
        """Start a container's process in its own process group, writing to its log file.

        stdout and stderr both go straight to the log file (opened for appending), so the
        lines keep the order they were written in and the log is complete even if this
        supervisor dies.
        """
        self.job.pod_dir(pod).mkdir(exist_ok=True)
        now = utcnow()
        with open(self.job.log_path(pod, container.name), "ab", buffering=0) as log:
            try:
                proc = subprocess.Popen(
                    container.launch.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=container.launch.env,
                    cwd=container.launch.cwd,
                    start_new_session=True,
                )
            except (OSError, ValueError) as exc:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                message = (
                    f"could not start {container.launch.argv[:1]} in "
                    f"{container.launch.cwd or os.getcwd()}: {detail}"
                )
                log.write(message.encode() + b"\n")
                container.status = container.status.model_copy(
                    update={
                        "exit_code": _START_ERROR_EXIT,
                        "reason": "StartError",
                        "message": message,
                        "started_at": now,
                        "finished_at": now,
                    }
                )
                return
        container.proc = proc
        container.group = ProcessId.of(proc.pid)
        atomic_write_json(self.job.pid_path(pod, container.name), container.group.to_json())
        container.status = container.status.model_copy(update={"started_at": now})

    def finish(self, container: _Container, returncode: int) -> None:
        """Record a container's exit; kill what it left in its group, as a container's end does."""
        if container.group is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(container.group.pid, signal.SIGKILL)
        code = returncode if returncode >= 0 else 128 - returncode
        container.status = container.status.model_copy(
            update={
                "exit_code": code,
                "finished_at": utcnow(),
                "reason": "Completed" if code == 0 else "Error",
            }
        )

    def kill(self, containers: list[_Container]) -> None:
        """Stop running containers: SIGTERM, a grace period, SIGKILL; then reap them."""
        running = [c for c in containers if c.proc is not None and c.status.exit_code is None]
        terminate_groups([c.group for c in running if c.group is not None], self.grace)
        for container in running:
            assert container.proc is not None
            self.finish(container, container.proc.wait())
            if self.engine:
                name = engine_container_name(
                    self.request.namespace, self.pods[-1].name, container.name
                )
                subprocess.run(
                    [self.engine, "rm", "--force", name],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=60,
                    check=False,
                )

    def wait(
        self, pod: PodRecord, containers: list[_Container], deadline: float | None, init: bool
    ) -> None:
        """Wait for the containers to exit, publishing each exit; stop them on `_Stop`."""
        try:
            while True:
                changed = False
                for c in containers:
                    if c.proc is not None and c.status.exit_code is None:
                        code = c.proc.poll()
                        if code is not None:
                            self.finish(c, code)
                            changed = True
                if changed:
                    self.set_pod(self.pod_state(pod, containers, init))
                if all(c.status.exit_code is not None for c in containers):
                    return
                self.check_stop(deadline)
                self.wake.wait(0.05)
        except _Stop:
            self.kill(containers)
            raise

    def pod_state(self, pod: PodRecord, containers: list[_Container], init: bool) -> PodRecord:
        """The pod's record with these containers' current statuses."""
        key = "init_containers" if init else "containers"
        statuses = {c.name: c.status for c in containers}
        merged = [statuses.get(s.name, s) for s in getattr(pod, key)]
        return pod.model_copy(update={key: merged})

    # -- pods and the job -------------------------------------------------------------------

    def run_pod(self, name: str) -> PodRecord:
        """Run one pod attempt to its end and return its final record."""
        pod_spec: dict[str, Any] = self.request.pod_spec
        init_specs, main_specs = pod_containers(pod_spec)
        images = sorted({s.get("image") or "(no image)" for s in (*init_specs, *main_specs)})
        plural = "s" if len(images) > 1 else ""
        note = "" if self.engine else f"image{plural} {', '.join(images)} not pulled: ran locally"
        init = [_Container(s, self.launch(s, name)) for s in init_specs]
        main = [_Container(s, self.launch(s, name)) for s in main_specs]
        pod = PodRecord(
            name=name,
            phase="Running",
            message=note,
            node=self.node,
            started_at=utcnow(),
            init_containers=[c.status for c in init],
            containers=[c.status for c in main],
        )
        self.set_pod(pod)
        deadline = None
        if pod_spec.get("activeDeadlineSeconds"):
            deadline = time.time() + int(pod_spec["activeDeadlineSeconds"])
        failure = ""
        try:
            for c in init:
                self.check_stop(deadline)
                self.start(name, c)
                pod = self.pod_state(pod, [c], init=True)
                self.set_pod(pod)
                self.wait(pod, [c], deadline, init=True)
                pod = self.pod_state(pod, [c], init=True)
                if c.status.exit_code != 0:
                    failure = f"init container {c.name} exited with code {c.status.exit_code}"
                    break
            if not failure:
                for c in main:
                    self.start(name, c)
                pod = self.pod_state(pod, main, init=False)
                self.set_pod(pod)
                self.wait(pod, main, deadline, init=False)
                pod = self.pod_state(pod, main, init=False)
                failure = "; ".join(
                    f"container {c.name} exited with code {c.status.exit_code}"
                    for c in main
                    if c.status.exit_code != 0
                )
        except _Stop as stop:
            pod = self.pod_state(self.pod_state(pod, init, True), main, False)
            self.set_pod(
                pod.model_copy(
                    update={
                        "phase": "Failed",
                        "reason": stop.reason,
                        "finished_at": utcnow(),
                        "message": "; ".join(filter(None, [stop.message, note])),
                    }
                )
            )
            raise
        phase = "Failed" if failure else "Succeeded"
        pod = pod.model_copy(
            update={
                "phase": phase,
                "finished_at": utcnow(),
                "message": "; ".join(filter(None, [failure, note])),
            }
        )
        self.set_pod(pod)
        return pod

    def run(self) -> None:
        """Run pod attempts until the job succeeds, spends its backoff limit, or must stop."""
        spec = self.request.spec
        completions = int(spec.get("completions") or 1)
        backoff = spec.get("backoffLimit")
        backoff_limit = _DEFAULT_BACKOFF_LIMIT if backoff is None else int(backoff)
        succeeded = failed = 0
        try:
            while True:
                self.check_stop(None)
                pod = self.run_pod(f"{self.record.name}-{len(self.pods)}")
                if pod.phase == "Succeeded":
                    succeeded += 1
                    self.publish(succeeded=succeeded)
                    if succeeded >= completions:
                        self.publish(phase="Succeeded", finished_at=utcnow())
                        return
                    continue
                failed += 1
                self.publish(failed=failed)
                if failed > backoff_limit:
                    self.publish(
                        phase="Failed",
                        reason="BackoffLimitExceeded",
                        finished_at=utcnow(),
                        message=f"Job has reached the specified backoff limit: {pod.message}",
                    )
                    return
        except _Stop as stop:
            if stop.reason == "Superseded":
                return
            last = self.pods[-1] if self.pods else None
            if last is not None and last.phase == "Failed" and last.reason == stop.reason:
                failed += 1  # the pod it stopped counts as failed, as on Kubernetes
            with contextlib.suppress(_Stop):
                self.publish(
                    phase="Failed",
                    reason=stop.reason,
                    message=stop.message,
                    failed=failed,
                    finished_at=utcnow(),
                )


def main(argv: list[str] | None = None) -> int:
    """Supervise the job whose directory is the one argument; return the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kontinue.runners._shim <job-dir>", file=sys.stderr)
        return 2
    job = JobDir(Path(args[0]))
    with job.lock():
        record = job.read_record()
        if record is None or record.finished or job.cancel_path.exists():
            return 0  # cancelled, or declared dead, before we got going: run nothing
        atomic_write_json(job.supervisor_path, ProcessId.of(os.getpid()).to_json())
    supervisor = Supervisor(job)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, supervisor.on_signal)
    try:
        supervisor.run()
    except Exception as exc:
        terminate_groups(job.container_groups(), supervisor.grace)
        with contextlib.suppress(Exception):
            supervisor.publish(
                phase="Failed",
                reason="SupervisorError",
                finished_at=utcnow(),
                message=f"the job's supervisor failed: {exc!r}",
            )
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
