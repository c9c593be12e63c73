"""Plain records of a job, its pods and containers, as stored in an Execution's journal.

Every runner reports what it sees as a `JobRecord`. The records are frozen pydantic models with
camelCase JSON (like the Kubernetes objects they summarise) and round-trip through JSON exactly:
``JobRecord.from_json(record.to_json()) == record``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LOST_REASONS",
    "ContainerStatus",
    "JobPhase",
    "JobRecord",
    "PodPhase",
    "PodRecord",
    "RunnerKind",
    "utcnow",
]

JobPhase = Literal["Running", "Succeeded", "Failed"]
"""A job is Running until it has succeeded or failed for good (retries included)."""

PodPhase = Literal["Pending", "Running", "Succeeded", "Failed"]
"""The Kubernetes pod phases a runner reports (`Unknown` is reported as `Pending`)."""

RunnerKind = Literal["local", "kubernetes", "container"]

LOST_REASONS = frozenset(
    {"SupervisorDied", "SupervisorError", "PodDeleted", "NodeLost", "JobDeleted"}
)
"""Reasons of a Failed job that mean its infrastructure was lost (see `JobRecord.lost`)."""
"""Where a job ran: local processes, a Kubernetes cluster, or a local container engine."""


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (the only kind records hold)."""
    return datetime.now(UTC)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _Record(BaseModel):
    """Base of the records: frozen, camelCase on the wire, unknown keys ignored."""

    model_config = ConfigDict(
        frozen=True, alias_generator=_camel, populate_by_name=True, extra="ignore"
    )

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-plain dict (camelCase keys, ISO 8601 UTC times)."""
        return self.model_dump(mode="json", by_alias=True)

    def dumps(self) -> str:
        """Return the record as a compact JSON string."""
        return json.dumps(self.to_json(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> Self:
        """Rebuild a record from `to_json()` output (a dict) or from a JSON string.

        Raises:
            pydantic.ValidationError: the data is not a record of this kind.
        """
        if isinstance(data, str | bytes):
            return cls.model_validate_json(data)
        return cls.model_validate(dict(data))


class ContainerStatus(_Record):
    """What one container of a pod did.

    Attributes:
        name: The container's name in the pod spec.
        image: The image the spec asked for (the local runner records it without pulling it).
        exit_code: The exit code once the container has terminated, else None. A container
            killed by signal N reports 128 + N, as Kubernetes does.
        started_at: When its process started, if it did.
        finished_at: When it terminated, if it did.
        reason: Kubernetes' short reason: `Completed`, `Error`, `StartError`, `OOMKilled`, or a
            waiting reason such as `ImagePullBackOff`; empty while running.
        message: A longer explanation, e.g. why the process could not start.
    """

    name: str
    image: str = ""
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str = ""
    message: str = ""

    @property
    def terminated(self) -> bool:
        """True once the container has an exit code."""
        return self.exit_code is not None


class PodRecord(_Record):
    """One pod of a job (for the local runners: one attempt at running the pod spec).

    Attributes:
        name: The pod's name (`<job>-<attempt>` for the local runners).
        phase: `Pending`, `Running`, `Succeeded` (every container exited 0) or `Failed`.
        message: Human-readable status, e.g. that the image was not pulled.
        reason: Kubernetes' short reason for a failed pod, e.g. `DeadlineExceeded`.
        init_containers: Init containers in spec order (they run first, one at a time).
        containers: The pod's containers in spec order.
        node: The node (or host) the pod ran on.
        started_at: When the pod started.
        finished_at: When its last container terminated.
    """

    name: str
    phase: PodPhase = "Pending"
    message: str = ""
    reason: str = ""
    init_containers: list[ContainerStatus] = Field(default_factory=list)
    containers: list[ContainerStatus] = Field(default_factory=list)
    node: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def all_exited_zero(self) -> bool:
        """True if there are containers and every one of them exited with code 0."""
        return bool(self.containers) and all(c.exit_code == 0 for c in self.containers)

    def container(self, name: str | None = None) -> ContainerStatus | None:
        """Return the named container's status (the first container's when name is None)."""
        if name is None:
            return self.containers[0] if self.containers else None
        for status in (*self.init_containers, *self.containers):
            if status.name == name:
                return status
        return None


class JobRecord(_Record):
    """A job as a runner last saw it.

    Attributes:
        name: The job's name (already shortened to a valid Kubernetes name).
        namespace: The job's namespace.
        runner: Which runner ran it.
        phase: `Running`, `Succeeded` or `Failed`.
        succeeded: How many pods succeeded.
        failed: How many pods failed.
        message: Why the job is in its phase, e.g. the deadline or the backoff limit.
        reason: Kubernetes' short reason for a failed job: `BackoffLimitExceeded`,
            `DeadlineExceeded`, `Canceled`, `SupervisorDied` or `InvalidSpec`.
        labels: The job's labels (they include `kontinue.cloud/execution` and `/step`).
        pods: Every pod of the job, oldest first.
        started_at: When the job was created.
        finished_at: When it reached Succeeded or Failed.
    """

    name: str
    namespace: str
    runner: RunnerKind
    phase: JobPhase = "Running"
    succeeded: int = 0
    failed: int = 0
    message: str = ""
    reason: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    pods: list[PodRecord] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """True once the job has succeeded or failed; it will not change any more."""
        return self.phase != "Running"

    @property
    def lost(self) -> bool:
        """True if the job ended because its infrastructure went away, not by its own outcome.

        A supervisor that died (SIGKILL, reboot), a node that vanished or a pod deleted from
        under it says nothing about the step: the caller runs it again instead of keeping it.
        """
        return self.phase == "Failed" and self.reason in LOST_REASONS

    @property
    def last_pod(self) -> PodRecord | None:
        """The newest pod, whose logs a caller usually wants; None before the first starts."""
        return self.pods[-1] if self.pods else None

    def pod(self, name: str | None = None) -> PodRecord | None:
        """Return the named pod (the newest when name is None), or None."""
        if name is None:
            return self.last_pod
        return next((p for p in self.pods if p.name == name), None)
