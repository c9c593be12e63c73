"""Jobs, pods and scripts: `run_job`, `run_pod`, `run_script`, and their results and logs.

A job is started once per step and attempt under a deterministic name, so a worker that
takes over after a crash finds it again instead of starting it twice. While it runs the
Execution parks and holds no worker; the controller wakes it when the job finishes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kontinue.api import JobEntry, WaitingOn
from kontinue.runtime import (
    DEFAULT_SHELL,
    ErrJobFailed,
    Error,
    ErrorKind,
    ExecutionContext,
    JobRecord,
    PodRecord,
    StepOptions,
    job_spec_from_pod_spec,
    log_error_summary,
    pod_model,
    script_pod_spec,
    step_runtime,
    to_plain,
)

__all__ = [
    "JobOptions",
    "JobResult",
    "LogOptions",
    "PodOptions",
    "PodResult",
    "ScriptOptions",
    "run_job",
    "run_pod",
    "run_script",
]

LOG_CAPTURE_BYTES = 64 * 1024 + 1
"""How much of the end of each container's log a finished job journals (by bytes: 64 KiB, and
one byte more to tell a whole log from a cut one)."""


class JobOptions(StepOptions):
    """Options of `run_job`: a `batch/v1` JobSpec (a `V1JobSpec` or its JSON)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: Any
    extra_annotations: dict[str, str] = Field(default_factory=dict)
    extra_labels: dict[str, str] = Field(default_factory=dict)
    check: bool = False
    """Raise `ErrJobFailed` if the job fails, instead of returning the failed result."""


class PodOptions(StepOptions):
    """Options of `run_pod`: a PodSpec (a `V1PodSpec` or its JSON), run once."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    spec: Any
    extra_annotations: dict[str, str] = Field(default_factory=dict)
    extra_labels: dict[str, str] = Field(default_factory=dict)
    check: bool = False
    """Raise `ErrJobFailed` if the pod fails, instead of returning the failed result."""


class ScriptOptions(StepOptions):
    """Options of `run_script`: a command run by a shell in an image."""

    image: str
    command: str
    shell: list[str] = Field(default_factory=lambda: list(DEFAULT_SHELL))
    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    extra_annotations: dict[str, str] = Field(default_factory=dict)
    extra_labels: dict[str, str] = Field(default_factory=dict)
    check: bool = False
    """Raise `ErrJobFailed` (with the log's error lines) if the script fails."""


class LogOptions(BaseModel):
    """Which logs to read: how many lines from the end (None: all), of which container, and
    at most how many bytes (None: no limit)."""

    tail_lines: int | None = 100
    container: str | None = None
    limit_bytes: int | None = None

    @field_validator("tail_lines")
    @classmethod
    def _zero_is_the_default(cls, value: int | None) -> int | None:
        """The reference's `TailLines: 0` (Go's zero value) means its default, 100."""
        if value is not None and value < 0:
            raise ValueError(f"tail_lines must be 0 or more, got {value}")
        return 100 if value == 0 else value


@dataclass(frozen=True)
class PodResult:
    """One finished pod: the pod, its phase and message; logs are read on demand.

    Attributes:
        record: The pod as the journal keeps it (a plain `PodRecord`).
        message: The status message.
        phase: `Succeeded`, `Failed`, ...
        pod: The pod as a Kubernetes `V1Pod` model (the reference's `*corev1.Pod`), the same
            shape from the local runner as on Kubernetes.
    """

    record: PodRecord
    message: str
    phase: str
    job: str = field(repr=False, default="")
    namespace: str = field(repr=False, default="default")
    runner: str = field(repr=False, default="local")
    labels: dict[str, str] = field(repr=False, default_factory=dict)
    captured: dict[str, str] = field(repr=False, default_factory=dict)
    """The end of each container's log as journaled when the job finished (by name)."""

    @functools.cached_property
    def pod(self) -> Any:
        """The pod as a `kubernetes.client.V1Pod` (built on first use)."""
        return pod_model(self.record, self.job, self.namespace, self.labels)

    def succeeded(self) -> bool:
        """True if every container exited with code 0."""
        return self.record.all_exited_zero

    @property
    def exit_code(self) -> int | None:
        """The first non-zero exit code, else 0 (None if nothing ran)."""
        codes = [c.exit_code for c in self.record.containers]
        if not codes or any(c is None for c in codes):
            return None
        return next((c for c in codes if c), 0)

    def logs(self, ktx: ExecutionContext, opts: LogOptions | None = None) -> str:
        """The pod's logs (default: the last 100 lines of the first container).

        What the journal kept when the job finished (the end of each log) answers first, so a
        replay reads no log from the runner; a longer request reads the runner's log.
        """
        opts = opts or LogOptions()
        name = opts.container or (self.record.containers[0].name if self.record.containers else "")
        if name in self.captured:
            head = self.runner == "kubernetes"  # limitBytes keeps a log's first bytes there
            text = _from_capture(self.captured[name], opts.tail_lines, opts.limit_bytes, head)
            if text is not None:
                return text
        return step_runtime(ktx).job_logs(
            self.runner,
            self.job,
            self.namespace,
            self.record.name,
            opts.container,
            opts.tail_lines,
            opts.limit_bytes,
        )

    def log_error_summary(self, ktx: ExecutionContext) -> str:
        """The last meaningful error lines of the failed container's log."""
        failed = next((c for c in self.record.containers if c.exit_code not in (0, None)), None)
        name = failed.name if failed else None
        text = self.logs(ktx, LogOptions(tail_lines=400, container=name))
        summary = log_error_summary(text)
        return summary or self.message


@dataclass(frozen=True)
class JobResult:
    """A finished job: how many pods succeeded and failed, and each pod's result."""

    succeeded_pods: int
    failed_pods: int
    message: str
    pods: list[PodResult]

    def succeeded(self) -> bool:
        """True if some pod succeeded and none failed."""
        return self.succeeded_pods > 0 and self.failed_pods == 0


def run_job(ktx: ExecutionContext, opts: JobOptions) -> JobResult:
    """Run a Kubernetes Job (locally: its pod as processes) and wait for it to finish."""
    spec = to_plain(opts.spec)
    record, captured = _run(ktx, "job", opts, spec, opts.extra_labels, opts.extra_annotations)
    result = _job_result(record, captured)
    if opts.check and not result.succeeded():
        failed = next((p for p in result.pods if not p.succeeded()), None)
        summary = failed.log_error_summary(ktx) if failed else result.message
        raise ErrJobFailed(
            f'job "{record.name}" of Execution "{ktx.name}" failed '
            f"({result.failed_pods} failed pod(s)): {summary or result.message}"
        )
    return result


def run_pod(ktx: ExecutionContext, opts: PodOptions) -> PodResult:
    """Run one pod through a Job with `backoffLimit: 0` and return its result."""
    spec = job_spec_from_pod_spec(opts.spec, backoff_limit=0)
    record, captured = _run(ktx, "pod", opts, spec, opts.extra_labels, opts.extra_annotations)
    return _checked(ktx, "pod", _pod_result(record, captured), opts.check)


def run_script(ktx: ExecutionContext, opts: ScriptOptions) -> PodResult:
    """Run `command` with a shell in `image` (locally: the image is recorded, not pulled)."""
    pod = script_pod_spec(
        opts.image, opts.command, shell=opts.shell, env=opts.env, working_dir=opts.working_dir
    )
    spec = job_spec_from_pod_spec(pod, backoff_limit=0)
    record, captured = _run(ktx, "script", opts, spec, opts.extra_labels, opts.extra_annotations)
    return _checked(ktx, "script", _pod_result(record, captured), opts.check)


def _checked(ktx: ExecutionContext, op: str, result: PodResult, check: bool) -> PodResult:
    """With `check`, a failed pod raises `ErrJobFailed` naming the step and the error lines."""
    if not check or result.succeeded():
        return result
    raise ErrJobFailed(
        f'{op} "{result.job}" of Execution "{ktx.name}" failed with exit '
        f"code {result.exit_code}: {result.log_error_summary(ktx)}"
    )


def _run(
    ktx: ExecutionContext,
    op: str,
    opts: StepOptions,
    spec: dict[str, Any],
    labels: dict[str, str],
    annotations: dict[str, str],
) -> tuple[JobRecord, dict[str, str]]:
    """Run the job as a step; returns its record and the journaled ends of its logs."""
    rt = step_runtime(ktx)

    def live(step: str) -> dict[str, Any] | WaitingOn:
        record, runner = rt.launch_job(op, step, spec, labels, annotations)
        message = _running_message(op, opts.display_name or step, spec, runner)
        if record.lost:
            # Not the step's outcome: the machinery under it went away. Nothing is recorded,
            # so the next attempt (which names its job anew) runs the step again.
            rt.set_message(None, only_if=message)
            raise Error(
                f'{op} step "{step}" of Execution "{rt.name}" lost its job {record.name}: '
                f"{record.message or record.reason} (infrastructure, not the step's outcome; "
                "the next attempt runs it again)",
                kind=ErrorKind.INFRASTRUCTURE,
                retryable=True,
            )
        if record.finished:
            # A failed job is recorded as failed, so that the next attempt of whatever owns
            # the step (its retry, the Execution's retry, `kontinue retry`) runs it again as a
            # new job.
            rt.set_message(None, only_if=message)
            return {
                "job": record.to_json(),
                "displayName": opts.display_name,
                "description": opts.description,
                "failed": (record.phase == "Failed" or _job_failed(op, record)) or None,
                "logs": rt.capture_logs(record, LOG_CAPTURE_BYTES),
            }
        rt.set_message(message)
        return WaitingOn(kind="job", names=[record.name], runner=runner, step=step)

    entry = rt.step(JobEntry, live, kind=op, opts=opts)
    return JobRecord.from_json(entry.job), dict(entry.logs or {})


def _job_failed(op: str, record: JobRecord) -> bool:
    """Whether a finished job is a failure its step's owner would retry."""
    if op == "job":
        return not _job_result(record).succeeded()
    return not _pod_result(record).succeeded()


def _running_message(op: str, what: str, spec: dict[str, Any], runner: str) -> str:
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    images = ", ".join(sorted({c.get("image", "?") for c in containers}))
    if runner == "local":
        return f"running {op} {what} locally (image {images} not pulled: ran as a local process)"
    return f"running {op} {what} in {images}"


def _pod_result(record: JobRecord, captured: Mapping[str, str] | None = None) -> PodResult:
    pod = record.last_pod or PodRecord(name=record.name, phase="Failed", message=record.message)
    phase = pod.phase if record.phase != "Failed" or pod.phase != "Succeeded" else "Failed"
    message = record.message or pod.message
    return PodResult(
        pod, message, phase, record.name, record.namespace, record.runner, dict(record.labels),
        dict(captured or {}),
    )  # fmt: skip


def _job_result(record: JobRecord, captured: Mapping[str, str] | None = None) -> JobResult:
    last = record.last_pod
    pods = [
        PodResult(
            p, p.message, p.phase, record.name, record.namespace, record.runner,
            dict(record.labels), dict(captured or {}) if p is last else {},
        )
        for p in record.pods
    ]  # fmt: skip
    return JobResult(record.succeeded, record.failed, record.message, pods)


def _from_capture(
    text: str, tail_lines: int | None, limit_bytes: int | None, head: bool = False
) -> str | None:
    """Answer a log request from a journaled log end, or None if it does not hold the answer.

    The capture is whole when it is shorter than `LOG_CAPTURE_BYTES`; otherwise it answers a
    request for at most that many bytes, or for fewer lines than it holds. A cut capture from
    a runner that keeps the first bytes (`head`: the API server's ``limitBytes``) answers only
    the very request that made it.
    """
    whole = len(text.encode()) < LOG_CAPTURE_BYTES
    if head and not whole:
        return text if tail_lines is None and limit_bytes == LOG_CAPTURE_BYTES else None
    if tail_lines is not None:
        lines = text.splitlines(keepends=True)
        if not whole and len(lines) <= tail_lines:  # its first line may be cut
            if limit_bytes is None or limit_bytes >= len(text.encode()):
                return None
            # the last `limit_bytes` of those lines lie inside the capture
        else:
            text = "".join(lines[-tail_lines:]) if tail_lines else ""
    elif not whole and (limit_bytes is None or limit_bytes > LOG_CAPTURE_BYTES):
        return None
    if limit_bytes is not None:
        data = text.encode()
        if len(data) > limit_bytes:
            text = data[-limit_bytes:].decode(errors="ignore")
    return text
