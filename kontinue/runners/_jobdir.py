"""The on-disk directory of one local job: its request, record, pids, lock and logs.

```
<state>/jobs/<namespace>/<name>/
    request.json          the JobRequest, plus the runner kind and container engine
    record.json           the JobRecord, replaced atomically on every change
    lock                  flock'ed by whoever changes record.json
    starter.json          pid + start time of the process that called start()
    supervisor.json       pid + start time of the supervisor (the `_shim` process)
    cancel                present once cancel() was asked for
    supervisor.log        the supervisor's own stderr, for when it crashes
    <pod>/<container>.log   stdout and stderr, interleaved in the order they were written
    <pod>/<container>.pid   pid + start time of the container's process group
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kontinue.runners._names import kube_name
from kontinue.runners._procs import ProcessId, atomic_write_json, locked, read_json
from kontinue.runners._protocol import JobRequest
from kontinue.runners._types import JobRecord

__all__ = ["JobDir", "jobs_root"]


def jobs_root(state_dir: Path, namespace: str) -> Path:
    """The directory holding a namespace's job directories."""
    return Path(state_dir) / "jobs" / kube_name(namespace)


class JobDir:
    """Paths and reads/writes of one job's directory (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        """Wrap an existing or future job directory."""
        self.path = path

    @classmethod
    def of(cls, state_dir: Path, namespace: str, name: str) -> JobDir:
        """The directory of job `name` in `namespace` under `state_dir`."""
        return cls(jobs_root(state_dir, namespace) / kube_name(name))

    @property
    def request_path(self) -> Path:
        """`request.json`."""
        return self.path / "request.json"

    @property
    def record_path(self) -> Path:
        """`record.json`."""
        return self.path / "record.json"

    @property
    def starter_path(self) -> Path:
        """`starter.json`."""
        return self.path / "starter.json"

    @property
    def supervisor_path(self) -> Path:
        """`supervisor.json`."""
        return self.path / "supervisor.json"

    @property
    def cancel_path(self) -> Path:
        """`cancel`, the marker of a requested cancellation."""
        return self.path / "cancel"

    def exists(self) -> bool:
        """True once the job has been claimed (its directory holds a record)."""
        return self.record_path.exists()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the job's lock; every change of `record.json` happens under it."""
        with locked(self.path / "lock"):
            yield

    def read_record(self) -> JobRecord | None:
        """The job's record, or None if there is none."""
        data = read_json(self.record_path)
        return None if data is None else JobRecord.from_json(data)

    def write_record(self, record: JobRecord) -> None:
        """Replace the job's record atomically (call it holding `lock()`)."""
        atomic_write_json(self.record_path, record.to_json())

    def read_request(self) -> tuple[JobRequest, dict[str, Any]]:
        """The job's request and the runner options stored beside it."""
        data = read_json(self.request_path)
        if data is None:
            raise FileNotFoundError(f"{self.request_path} is missing")
        return JobRequest.from_json(data["request"]), dict(data.get("options") or {})

    def read_pid(self, path: Path) -> ProcessId | None:
        """The ProcessId kept in `path`, or None."""
        data = read_json(path)
        return None if data is None else ProcessId.from_json(data)

    def pod_dir(self, pod: str) -> Path:
        """The directory holding a pod's logs and pid files."""
        return self.path / pod

    def log_path(self, pod: str, container: str) -> Path:
        """A container's log file."""
        return self.pod_dir(pod) / f"{container}.log"

    def pid_path(self, pod: str, container: str) -> Path:
        """A container's pid file."""
        return self.pod_dir(pod) / f"{container}.pid"

    def container_groups(self) -> list[ProcessId]:
        """Every container process group the job ever started."""
        groups = []
        for path in sorted(self.path.glob("*/*.pid")):
            group = self.read_pid(path)
            if group is not None:
                groups.append(group)
        return groups
