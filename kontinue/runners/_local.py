"""The local runner: a job's containers run as processes on this machine, under a supervisor.

`start` claims the job by renaming a fully prepared directory into place (atomic: of two
processes starting the same job, exactly one wins; the other returns the winner's record),
then launches a detached supervisor (`kontinue.runners._shim`) that runs the pods and keeps
`record.json` current. Nothing in the calling process waits for the job: any process with
the same state directory can `poll`, read `logs`, `follow` or `cancel` it by name. A
supervisor that died (SIGKILL, reboot) is noticed by `poll`, which fails the job with
"supervisor process died" and never starts it again. See `_jobdir` for the layout.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kontinue.runners._jobdir import JobDir, jobs_root
from kontinue.runners._launch import spec_problems
from kontinue.runners._procs import ProcessId, atomic_write_json, terminate_groups
from kontinue.runners._protocol import JobNotFoundError, JobRequest, RunnerError
from kontinue.runners._types import JobRecord, PodRecord, RunnerKind, utcnow

__all__ = ["LocalRunner"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding `kontinue/`
_POLL_INTERVAL = 0.1


def _tail(path: Path, lines: int | None, limit: int | None = None) -> str:
    """The last `lines` lines of a file (all of it for None), at most its last `limit` bytes."""
    if lines is not None and lines <= 0:
        return ""
    with open(path, "rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        chunks: list[bytes] = []
        size = newlines = 0
        while pos > 0 and (lines is None or newlines <= lines) and (limit is None or size < limit):
            step = min(65536, pos)
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step)
            chunks.append(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
    data = b"".join(reversed(chunks))
    if limit is not None:
        data = data[-limit:]
    if lines is not None:
        data = b"".join(data.splitlines(keepends=True)[-lines:])
    return data.decode(errors="replace")


class LocalRunner:
    """Runs jobs as local processes; the image is recorded but never pulled.

    Args:
        state_dir: Where job directories live (`<state_dir>/jobs/<namespace>/<name>/`).
        grace_seconds: How long containers get between SIGTERM and SIGKILL, unless the pod
            spec's `terminationGracePeriodSeconds` says otherwise.
    """

    kind: RunnerKind = "local"

    def __init__(self, state_dir: Path | str, grace_seconds: float = 5.0) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.grace_seconds = grace_seconds
        self._children: list[subprocess.Popen[bytes]] = []
        self._children_lock = threading.Lock()

    # -- hooks for the container runner ------------------------------------------------------

    def _problems(self, request: JobRequest) -> list[str]:
        return spec_problems(request.pod_spec, needs_command=True)

    def _options(self, request: JobRequest) -> dict[str, Any]:
        grace = request.pod_spec.get("terminationGracePeriodSeconds")
        return {
            "engine": None,
            "cwd": os.getcwd(),
            "grace": self.grace_seconds if grace is None else float(grace),
        }

    # -- Runner -----------------------------------------------------------------------------

    def start(self, request: JobRequest) -> JobRecord:
        """Start the job unless a job of that name exists; return its record either way."""
        self._reap()
        job = JobDir.of(self.state_dir, request.namespace, request.name)
        if job.path.exists():
            return self._existing(job, request)
        root = jobs_root(self.state_dir, request.namespace)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)  # logs may hold secrets
        staging = JobDir(Path(tempfile.mkdtemp(prefix=f".{request.job_name}.", dir=root)))
        now = utcnow()
        record = JobRecord(
            name=request.job_name,
            namespace=request.namespace,
            runner=self.kind,
            labels=request.all_labels(),
            started_at=now,
        )
        problems = self._problems(request)
        if problems:
            record = record.model_copy(
                update={
                    "phase": "Failed",
                    "reason": "InvalidSpec",
                    "finished_at": now,
                    "message": f"job {request.job_name} cannot run on the {self.kind} runner: "
                    + "; ".join(problems),
                }
            )
        try:
            atomic_write_json(
                staging.request_path,
                {"request": request.to_json(), "options": self._options(request)},
            )
            atomic_write_json(staging.starter_path, ProcessId.of(os.getpid()).to_json())
            staging.write_record(record)
            (staging.path / "lock").touch()
            os.rename(staging.path, job.path)  # the claim
        except OSError as exc:
            shutil.rmtree(staging.path, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                return self._existing(job, request)
            raise
        if not problems:
            record = self._launch(job, record)
        return record

    def _existing(self, job: JobDir, request: JobRequest) -> JobRecord:
        record = self.poll(request.name, request.namespace)
        if record is None:
            raise RunnerError(
                f"{job.path} exists but holds no job record, so job {request.job_name} can "
                "neither be started nor found; remove that directory and try again"
            )
        return record

    def _launch(self, job: JobDir, record: JobRecord) -> JobRecord:
        try:
            with open(job.path / "supervisor.log", "ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "kontinue.runners._shim", str(job.path)],
                    cwd=_PACKAGE_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
        except OSError as exc:
            with job.lock():
                record = record.model_copy(
                    update={
                        "phase": "Failed",
                        "reason": "SupervisorDied",
                        "finished_at": utcnow(),
                        "message": f"could not launch the job's supervisor: {exc}",
                    }
                )
                job.write_record(record)
            return record
        atomic_write_json(job.supervisor_path, ProcessId.of(proc.pid).to_json())
        with self._children_lock:
            self._children.append(proc)
        return record

    def _reap(self) -> None:
        """Collect exited supervisors we started, so they do not linger as zombies."""
        with self._children_lock:
            self._children = [p for p in self._children if p.poll() is None]

    def _orphaned(self, job: JobDir) -> str | None:
        """Why a Running job has nobody running it, or None if its supervisor is alive."""
        supervisor = job.read_pid(job.supervisor_path)
        if supervisor is not None:
            return None if supervisor.alive() else "supervisor process died"
        starter = job.read_pid(job.starter_path)
        if starter is not None and starter.alive():
            return None  # still launching the supervisor
        return "the process that started the job died before launching its supervisor"

    def _fail(self, job: JobDir, record: JobRecord, reason: str, message: str) -> JobRecord:
        """Finish a job nobody supervises: kill what is left of it, mark it and its pod Failed."""
        terminate_groups(job.container_groups(), grace=0)
        pods = list(record.pods)
        failed = record.failed
        if pods and pods[-1].phase in ("Pending", "Running"):
            failed += 1
            pods[-1] = pods[-1].model_copy(
                update={
                    "phase": "Failed",
                    "reason": reason,
                    "message": message,
                    "finished_at": utcnow(),
                }
            )
        record = record.model_copy(
            update={
                "phase": "Failed",
                "reason": reason,
                "message": message,
                "pods": pods,
                "failed": failed,
                "finished_at": utcnow(),
            }
        )
        job.write_record(record)
        return record

    def poll(self, name: str, namespace: str) -> JobRecord | None:
        """Return the job's record; fail it if its supervisor died. None if there is no job."""
        self._reap()
        job = JobDir.of(self.state_dir, namespace, name)
        record = job.read_record()
        if record is None or record.finished or self._orphaned(job) is None:
            return record
        with job.lock():
            record = job.read_record()
            if record is None or record.finished:
                return record
            why = self._orphaned(job)
            if why is None:
                return record
            return self._fail(job, record, "SupervisorDied", why)

    def cancel(self, name: str, namespace: str) -> None:
        """Stop the job: its supervisor ends the containers and marks it Failed/`Canceled`.

        If the supervisor does not finish within the grace period (or is gone), it and every
        container process group are SIGKILLed here and the record is finished here.
        """
        self._reap()
        job = JobDir.of(self.state_dir, namespace, name)
        record = job.read_record()
        if record is None or record.finished:
            return
        job.cancel_path.touch()
        supervisor = job.read_pid(job.supervisor_path)
        if supervisor is not None and supervisor.alive():
            _, options = job.read_request()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(supervisor.pid, signal.SIGTERM)
            deadline = time.monotonic() + float(options.get("grace", self.grace_seconds)) + 5
            while supervisor.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
                self._reap()
            if supervisor.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(supervisor.pid, signal.SIGKILL)
        with job.lock():
            record = job.read_record()
            if record is not None and not record.finished:
                self._fail(job, record, "Canceled", "the job was canceled")

    def delete(self, name: str, namespace: str) -> None:
        """Cancel the job if it runs, then remove its directory, logs included."""
        self.cancel(name, namespace)
        shutil.rmtree(JobDir.of(self.state_dir, namespace, name).path, ignore_errors=True)

    # -- logs -------------------------------------------------------------------------------

    def _log_target(
        self, name: str, namespace: str, pod: str | None, container: str | None
    ) -> tuple[JobDir, JobRecord, PodRecord | None, str]:
        job = JobDir.of(self.state_dir, namespace, name)
        record = self.poll(name, namespace)
        if record is None:
            raise JobNotFoundError(f"there is no job {name} in namespace {namespace}")
        pod_record = record.pod(pod)
        if pod is not None and pod_record is None:
            raise JobNotFoundError(
                f"job {record.name} has no pod {pod}; it has "
                f"{[p.name for p in record.pods] or 'none yet'}"
            )
        if pod_record is None:
            return job, record, None, container or ""
        status = pod_record.container(container)
        if status is None:
            names = [c.name for c in (*pod_record.init_containers, *pod_record.containers)]
            raise JobNotFoundError(
                f"pod {pod_record.name} has no container {container}; it has {names}"
            )
        return job, record, pod_record, status.name

    def logs(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A container's log (newest pod, first container by default), last lines only if asked.

        Raises:
            JobNotFoundError: no such job, or no such pod or container in it.
        """
        job, _, pod_record, container_name = self._log_target(name, namespace, pod, container)
        if pod_record is None:
            return ""
        path = job.log_path(pod_record.name, container_name)
        return _tail(path, tail_lines, limit_bytes) if path.exists() else ""

    def follow(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """Yield a container's log lines (without newlines) as they come, until it ends.

        Raises:
            JobNotFoundError: no such job, or no such pod or container in it.
        """
        job, record, pod_record, container_name = self._log_target(name, namespace, pod, container)
        return self._follow(job, record, pod_record, container_name, tail_lines)

    def _follow(
        self,
        job: JobDir,
        record: JobRecord,
        pod_record: PodRecord | None,
        container: str,
        tail_lines: int | None,
    ) -> Iterator[str]:
        while pod_record is None:  # wait for the first pod to start
            if record.finished:
                return
            time.sleep(_POLL_INTERVAL)
            record = self.poll(record.name, record.namespace) or record
            pod_record = record.last_pod
            container = container or (pod_record.containers[0].name if pod_record else "")
        pod_name = pod_record.name
        path = job.log_path(pod_name, container)
        offset, pending, first = 0, b"", True
        while True:
            done = self._container_done(record, pod_name, container)
            data = b""
            if path.exists():
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
                offset += len(data)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            if first and tail_lines is not None:
                lines = lines[-tail_lines:] if tail_lines > 0 else []
            first = first and not path.exists()
            yield from (line.decode(errors="replace") for line in lines)
            if done and not data:
                if pending:
                    yield pending.decode(errors="replace")
                return
            if not data:
                time.sleep(_POLL_INTERVAL)
                record = self.poll(record.name, record.namespace) or record

    @staticmethod
    def _container_done(record: JobRecord, pod: str, container: str) -> bool:
        pod_record = record.pod(pod)
        if record.finished or pod_record is None or pod_record.phase in ("Succeeded", "Failed"):
            return True
        status = pod_record.container(container)
        return status is not None and status.terminated
