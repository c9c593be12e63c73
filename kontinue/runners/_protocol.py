"""The `Runner` protocol every place a job can run implements, and the `JobRequest` it takes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from kontinue.api import Error, ErrorKind
from kontinue.runners._names import kube_name, label_value
from kontinue.runners._specs import to_plain
from kontinue.runners._types import JobRecord, RunnerKind

__all__ = [
    "EXECUTION_LABEL",
    "STEP_LABEL",
    "JobNotFoundError",
    "JobRequest",
    "OwnerRef",
    "Runner",
    "RunnerError",
    "RunnerUnavailableError",
]

EXECUTION_LABEL = "kontinue.cloud/execution"
"""Label naming the Execution that started a job."""

STEP_LABEL = "kontinue.cloud/step"
"""Label naming the step of that Execution the job belongs to."""


class RunnerError(Error):
    """Root of the runner layer's errors, a `kontinue.Error` of kind Infrastructure.

    ```
    kontinue.Error
    └── RunnerError
        ├── JobNotFoundError        no job of that name in that namespace
        └── RunnerUnavailableError  the runner asked for cannot work on this machine
    ```
    """

    default_kind, default_retryable = ErrorKind.INFRASTRUCTURE, True


class JobNotFoundError(RunnerError, LookupError):
    """No job of that name exists in that namespace."""


class RunnerUnavailableError(RunnerError):
    """The runner asked for cannot work here, e.g. no container engine answers."""


@dataclass(frozen=True)
class OwnerRef:
    """The Execution that owns a job; deleting the Execution deletes the job.

    Attributes:
        name: The Execution's name.
        uid: The Execution's uid.
        api_version: Its API version, `kontinue.cloud/v1alpha1`.
        kind: Its kind, `Execution`.
    """

    name: str
    uid: str
    api_version: str = "kontinue.cloud/v1alpha1"
    kind: str = "Execution"

    def to_json(self) -> dict[str, Any]:
        """Return the Kubernetes `ownerReferences` entry (controller, blocking deletion)."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class JobRequest:
    """Everything a runner needs to start one job.

    Attributes:
        name: The job's deterministic name; runners shorten it with `kube_name` when it is not
            a valid Kubernetes name of at most 63 characters (see `job_name`).
        namespace: The namespace, usually the Execution's.
        spec: The `batch/v1` JobSpec as Kubernetes JSON (a `V1JobSpec` is converted).
        step: The step name, recorded in the `kontinue.cloud/step` label.
        owner: The owning Execution, if any.
        labels: Extra labels for the job and its pods.
        annotations: Extra annotations for the job.
    """

    name: str
    namespace: str
    spec: Mapping[str, Any]
    step: str = ""
    owner: OwnerRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.spec, dict):
            object.__setattr__(self, "spec", to_plain(self.spec))
        if not isinstance(self.spec.get("template"), Mapping):
            raise ValueError(
                f"job {self.name!r}: the job spec has no pod template; build it with "
                "job_spec_from_pod_spec() or give {'template': {'spec': {...}}}"
            )

    @property
    def job_name(self) -> str:
        """The name the job really gets: `name` if valid, else shortened with a stable hash."""
        return kube_name(self.name)

    @property
    def pod_spec(self) -> dict[str, Any]:
        """The pod template's spec."""
        spec: dict[str, Any] = self.spec["template"].get("spec") or {}
        return spec

    def all_labels(self) -> dict[str, str]:
        """The extra labels plus `kontinue.cloud/execution` and `kontinue.cloud/step`."""
        labels = dict(self.labels)
        if self.owner is not None:
            labels[EXECUTION_LABEL] = label_value(self.owner.name)
        if self.step:
            labels[STEP_LABEL] = label_value(self.step)
        return labels

    def to_json(self) -> dict[str, Any]:
        """Return the request as a JSON-plain dict (the local runners keep it on disk)."""
        owner = None
        if self.owner is not None:
            owner = {
                "name": self.owner.name,
                "uid": self.owner.uid,
                "apiVersion": self.owner.api_version,
                "kind": self.owner.kind,
            }
        return {
            "name": self.name,
            "namespace": self.namespace,
            "spec": to_plain(self.spec),
            "step": self.step,
            "owner": owner,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRequest:
        """Rebuild a request from `to_json()` output."""
        owner_data = data.get("owner")
        owner = None
        if owner_data:
            owner = OwnerRef(
                name=owner_data["name"],
                uid=owner_data["uid"],
                api_version=owner_data.get("apiVersion", OwnerRef.api_version),
                kind=owner_data.get("kind", OwnerRef.kind),
            )
        return cls(
            name=data["name"],
            namespace=data["namespace"],
            spec=data["spec"],
            step=data.get("step", ""),
            owner=owner,
            labels=data.get("labels") or {},
            annotations=data.get("annotations") or {},
        )


@runtime_checkable
class Runner(Protocol):
    """Starts jobs, reports on them, reads their logs and cancels them.

    Every method takes the job's name and namespace, so that any process, not only the one
    that started a job, can find it again: a worker that dies while a job runs leaves the job
    running, and the next worker polls it by name. Names given to `poll`, `logs`, `cancel`
    and `follow` go through the same shortening as `JobRequest.job_name`.
    """

    @property
    def kind(self) -> RunnerKind:
        """`local`, `container` or `kubernetes`."""
        ...

    def start(self, request: JobRequest) -> JobRecord:
        """Start the job, or, if a job of that name exists, start nothing and return it.

        This is what makes starting a job safe to repeat after a crash.
        """
        ...

    def poll(self, name: str, namespace: str) -> JobRecord | None:
        """Return the job's current record, or None if there is no such job."""
        ...

    def logs(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """Return a container's log: by default the newest pod's first container.

        `limit_bytes` bounds what is read (a 50 MB log must not be read whole to show a result):
        the local runner keeps the last bytes, the API server the first (its ``limitBytes``).

        Raises:
            JobNotFoundError: there is no such job.
        """
        ...

    def cancel(self, name: str, namespace: str) -> None:
        """Stop the job: kill its processes or delete it. Doing it twice is harmless."""
        ...

    def follow(
        self,
        name: str,
        namespace: str,
        pod: str | None = None,
        container: str | None = None,
        tail_lines: int | None = None,
    ) -> Iterator[str]:
        """Yield a container's log lines as they are written, until the container ends.

        Raises:
            JobNotFoundError: there is no such job.
        """
        ...
