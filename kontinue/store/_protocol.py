"""The `Store` protocol: Kubernetes API semantics that every backend provides."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from kontinue.store._selectors import Selector

if TYPE_CHECKING:
    from kontinue.api import JournalEntry, Resource, StepEntry

__all__ = ["R", "Store", "WatchEvent"]

R = TypeVar("R", bound="Resource")


@dataclass(frozen=True)
class WatchEvent:
    """One change: ADDED, MODIFIED or DELETED, with the object as it was then."""

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    kind: str
    namespace: str
    name: str
    resource_version: str
    object: dict[str, Any]


class Store(Protocol):
    """Named, namespaced resources with resourceVersion compare-and-swap.

    Every component (worker, controller, CLI, UI) reads and writes state only through this
    interface, so the same code runs on the SQLite file and on a Kubernetes API server.
    """

    def create(self, obj: R) -> R:
        """Create `obj` (name, or `generateName` plus a random suffix); return it as stored.

        Raises:
            AlreadyExistsError: a resource of that kind, namespace and name exists.
        """
        ...

    def get(self, cls: type[R], namespace: str, name: str) -> R:
        """Read one resource. Raises NotFoundError."""
        ...

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
    ) -> builtins.list[R]:
        """All resources of a kind (in one namespace, or all), matching a label selector,
        and with `phases`, only those whose `status.phase` is one of them.

        Label `key=value` clauses and `phases` are served by indexes: the cost follows the
        answer, not how many resources the store holds.
        """
        ...

    def iterate(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[R]:
        """`list`, streamed: read in pages of `page` (Kubernetes' `limit` and `continue`),
        so memory holds one page whatever the size of the answer."""
        ...

    def iterate_wire(
        self,
        kind: str,
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """`iterate` without building models: each object of `kind` (e.g. "Execution") as
        the JSON-plain dict the store holds (camelCase; a field at its default may be
        missing). For read-only views that show a few fields of many objects (`kontinue
        list`), where validating every object would cost more than the rest of the work."""
        ...

    def update(self, obj: R) -> R:
        """Write metadata and spec (status untouched) if resourceVersion is current.

        Raises:
            ConflictError: the stored resourceVersion differs; nothing was written.
        """
        ...

    def update_status(self, obj: R) -> R:
        """Write only the status if resourceVersion is current. Raises ConflictError."""
        ...

    def delete(self, cls: type[Resource], namespace: str, name: str) -> None:
        """Delete a resource and, in cascade, every dependent left without an owner.

        As Kubernetes' garbage collector does: a resource whose ownerReferences name several
        owners is deleted with the last of them. Raises NotFoundError.
        """
        ...

    def watch(
        self,
        since: str | None = None,
        kinds: tuple[str, ...] | None = None,
        namespace: str | None = None,
        timeout: float = 0.0,
    ) -> Iterator[WatchEvent]:
        """Changes after version `since`, waiting up to `timeout` seconds for the first.

        Without `since`, the changes after the newest version at the time of the call. The
        iterator ends after the first batch of matching changes, or at the timeout.

        Raises:
            GoneError: `since` is older than the oldest change kept; list and watch again.
        """
        ...

    def current_version(self) -> str:
        """The newest resourceVersion, to start a watch from after a list."""
        ...

    def append_journal(
        self,
        namespace: str,
        name: str,
        seq: int,
        entry: Mapping[str, Any] | StepEntry,
        holder: str,
    ) -> None:
        """Append step `seq` to an Execution's journal, durably, before returning.

        A typed entry is stored in its wire form (`StepEntry.wire()`); a mapping as it is.

        The write is fenced: it succeeds only while `holder` holds the Execution's lease and
        the Execution is Executing, and only if `seq` is the next position.

        Raises:
            FencedError: the lease is lost or the Execution was canceled meanwhile.
            ConflictError: `seq` is not the next position (already taken, or past the end).
        """
        ...

    def read_journal(self, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        """The journal entries of an Execution, in order, in their stored (wire) form."""
        ...

    def read_entries(self, namespace: str, name: str) -> builtins.list[JournalEntry]:
        """The journal entries of an Execution, in order, typed by kind (what replay reads)."""
        ...

    def write_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """Keep secret values apart from every resource (create or replace `name`).

        On the embedded store a file of mode 0600 beside (never inside) the state file; on
        Kubernetes a `v1` Secret. Resources only hold the secret's name.
        """
        ...

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The values of a secret. Raises NotFoundError."""
        ...

    def adopt_secret(self, namespace: str, name: str, owner: Resource) -> None:
        """Make `owner` own the secret: it is deleted with it (Kubernetes' garbage collector,
        or the embedded store's cascade)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
