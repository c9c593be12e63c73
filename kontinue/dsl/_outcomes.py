"""What a script, job or pod step leaves behind: a small, bounded outcome, never its whole log.

A step's outcome is journaled on the Execution, handed to later steps' templates and copied into
the arguments of child Executions (branches, loop items), so it must stay small whatever the
script prints. It holds the exit code, ``result`` (stdout without colour codes and control
characters, at most `RESULT_CAP` bytes as stored JSON: the last ones, with ``resultTruncated:
true`` when more was printed), ``outputs`` (stdout parsed as JSON,
with ``outputs: json``) and ``logs``, a reference (job and pod) from which ``kontinue logs``
reads the whole log. Replay reads the outcome from the journal, never the runner's logs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kontinue.runners import log_error_summary, strip_ansi
from kontinue.runtime import Error, ErrorKind, ExecutionContext
from kontinue.sdk import JobResult, LogOptions, PodResult
from kontinue.sdk._jobs import LOG_CAPTURE_BYTES

__all__ = [
    "RESULT_CAP",
    "SUMMARY_CAP",
    "bounded",
    "failure_summary",
    "job_outcome",
    "pod_outcome",
]

RESULT_CAP = LOG_CAPTURE_BYTES - 1
"""The most bytes of stdout a step's ``result`` keeps (and ``outputs: json`` may parse): what
the job's journal entry keeps of its log, so replay reads the result from the journal."""

SUMMARY_CAP = 2000
"""The most characters of a failed step's log quoted in its error."""


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _stdout(ktx: ExecutionContext, pod: PodResult) -> tuple[str, bool]:
    if not pod.record.containers:
        return "", False
    text = pod.logs(ktx, LogOptions(tail_lines=None, limit_bytes=RESULT_CAP + 1))
    truncated = len(text.encode()) > RESULT_CAP
    return bounded(_CONTROL.sub("", strip_ansi(text)), truncated)


def bounded(text: str, truncated: bool = False) -> tuple[str, bool]:
    """The longest end of ``text`` whose JSON form (as stored) fits in `RESULT_CAP` bytes.

    Escapes count: a control character or a non-ASCII one takes up to 12 bytes as JSON.
    """
    if len(json.dumps(text)) <= RESULT_CAP:
        return text, truncated
    low, high = 0, len(text)
    while low < high:
        middle = (low + high) // 2
        if len(json.dumps(text[middle:])) <= RESULT_CAP:
            high = middle
        else:
            low = middle + 1
    return text[low:], True


def pod_outcome(
    ktx: ExecutionContext, step: str, pod: PodResult, outputs: str | None
) -> dict[str, Any]:
    """The outcome of a script or pod step (see the module docstring)."""
    text, truncated = _stdout(ktx, pod)
    outcome: dict[str, Any] = {
        "phase": "Succeeded" if pod.succeeded() else "Failed",
        "exitCode": pod.exit_code,
        "result": text.strip(),
        "resultTruncated": truncated,
        "logs": {"job": pod.job, "pod": pod.record.name},
    }
    if outputs == "json" and pod.succeeded():
        outcome["outputs"] = _json(step, text, truncated)
    return outcome


def job_outcome(ktx: ExecutionContext, step: str, job: JobResult) -> dict[str, Any]:
    """The outcome of a job step: pod counts, and the last pod's exit code and result."""
    last = job.pods[-1] if job.pods else None
    outcome: dict[str, Any] = {
        "phase": "Succeeded" if job.succeeded() else "Failed",
        "succeeded": job.succeeded_pods,
        "failed": job.failed_pods,
        "exitCode": last.exit_code if last else None,
        "result": "",
        "resultTruncated": False,
        "logs": None,
    }
    if last is not None:
        text, truncated = _stdout(ktx, last)
        outcome.update(
            result=text.strip(),
            resultTruncated=truncated,
            logs={"job": last.job, "pod": last.record.name},
        )
    return outcome


def failure_summary(ktx: ExecutionContext, pod: PodResult) -> str:
    """The last error lines of a failed pod's log, read and quoted within bounds."""
    failed = next((c for c in pod.record.containers if c.exit_code not in (0, None)), None)
    try:
        text = pod.logs(
            ktx,
            LogOptions(tail_lines=400, container=failed.name if failed else None, limit_bytes=8192),
        )
    except Error:
        text = ""
    summary = log_error_summary(text) or pod.message
    return summary if len(summary) <= SUMMARY_CAP else "..." + summary[-SUMMARY_CAP:]


def _json(step: str, text: str, truncated: bool) -> Any:
    if truncated:
        raise Error(
            f'step "{step}" declares outputs: json, but printed more than {RESULT_CAP} bytes; '
            "print only the JSON value (send the rest to stderr)",
            kind=ErrorKind.VALIDATION,
            retryable=False,
        )
    try:
        return json.loads(text)
    except ValueError as exc:
        shown = text.strip()[:200]
        raise Error(
            f'step "{step}" declares outputs: json, but its stdout is not JSON ({exc}): '
            f'{shown!r}; print exactly one JSON value, e.g. echo \'["eu", "us"]\'',
            kind=ErrorKind.VALIDATION,
            retryable=False,
        ) from None
