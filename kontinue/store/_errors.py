"""Store errors, mirroring the Kubernetes API's status reasons.

kontinue.Error
└── StoreError            Infrastructure, retryable

    ├── NotFoundError        404: no such resource
    ├── AlreadyExistsError   409: a resource of that name exists
    ├── ConflictError        409: stale resourceVersion, nothing was written
    ├── FencedError          the writer no longer holds the Execution's lease
    ├── GoneError            410: a watch asked for a version no longer kept
    ├── ValueTooLargeError   413: larger than the store keeps in one place (Validation, final)
    └── StoreUnavailableError  the state directory or server cannot be used
"""

from __future__ import annotations

from kontinue.api import Error, ErrorKind

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "FencedError",
    "GoneError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "ValueTooLargeError",
]


class StoreError(Error):
    """Root of every error a store raises (a `kontinue.Error` of kind Infrastructure)."""

    default_kind, default_retryable = ErrorKind.INFRASTRUCTURE, True


class NotFoundError(StoreError):
    """The resource does not exist."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        super().__init__(f'{kind} "{name}" not found in namespace "{namespace}"')
        self.resource_kind, self.namespace, self.name = kind, namespace, name


class AlreadyExistsError(StoreError):
    """A resource with that kind, namespace and name already exists."""

    def __init__(self, kind: str, namespace: str, name: str) -> None:
        super().__init__(f'{kind} "{name}" already exists in namespace "{namespace}"')
        self.resource_kind, self.namespace, self.name = kind, namespace, name


class ConflictError(StoreError):
    """A write carried a stale resourceVersion; nothing was written. Re-read and retry."""


class FencedError(StoreError):
    """A journal write came from a worker that no longer holds the Execution."""

    def __init__(self, message: str, phase: str | None = None) -> None:
        super().__init__(message)
        self.phase = phase


class GoneError(StoreError):
    """A watch asked for changes since a version that is no longer kept; list again."""


class ValueTooLargeError(StoreError):
    """A write is larger than the store can keep (on Kubernetes: etcd's object limit).

    Nothing was written. The message names the Execution and, for a journal entry, the step;
    retrying cannot help, so the engine fails the Execution with it.
    """

    default_kind, default_retryable = ErrorKind.VALIDATION, False


class StoreUnavailableError(StoreError):
    """The store cannot be opened or reached (missing directory, bad URL, no server)."""
