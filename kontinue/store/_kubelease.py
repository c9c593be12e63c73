"""Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does.

A candidate reads the Lease; it may take it when it holds it already, when nobody does, or
when the record has not changed for a whole lease duration *as this candidate observed it*
(its own monotonic clock: no trust in other machines' clocks). Every take and renewal is a
PUT with the resourceVersion read, so of two candidates exactly one succeeds.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kontinue.store._errors import AlreadyExistsError, ConflictError, NotFoundError, StoreError

if TYPE_CHECKING:
    from kontinue.store._kubernetes import KubernetesStore

__all__ = ["KubeLeaderLease"]


def _micro(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubeLeaderLease:
    """One candidate's view of a leader Lease.

    Args:
        store: the Kubernetes store whose client and counters to use.
        namespace, name: the Lease object.
        identity: this candidate (unique per process).
        duration: how long a leader that stops renewing keeps the Lease.
    """

    def __init__(
        self,
        store: KubernetesStore,
        namespace: str,
        name: str,
        identity: str,
        duration: float,
    ) -> None:
        from kubernetes import client

        self.store = store
        self.coordination = client.CoordinationV1Api(store.api_client)
        self.namespace, self.name = namespace, name
        self.identity = identity
        self.duration = duration
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0

    def holder(self) -> str | None:
        """Who holds the Lease now, as the server says."""
        try:
            lease = self._read()
        except NotFoundError:
            return None
        return (lease.get("spec") or {}).get("holderIdentity") or None

    def _read(self) -> dict[str, Any]:
        response = self.store.call(
            ("Lease", self.namespace, self.name),
            self.coordination.read_namespaced_lease,
            self.name,
            self.namespace,
            _preload_content=False,
        )
        body: dict[str, Any] = json.loads(response.data)
        return body

    def try_acquire_or_renew(self) -> bool:
        """Take or renew the Lease; True if this candidate leads now."""
        now = datetime.now(UTC)
        seconds = max(1, round(self.duration))
        try:
            lease = self._read()
        except NotFoundError:
            spec: dict[str, Any] = {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": seconds,
                "acquireTime": _micro(now),
                "renewTime": _micro(now),
                "leaseTransitions": 0,
            }
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": spec,
            }
            try:
                self.store.call(
                    ("Lease", self.namespace, self.name),
                    self.coordination.create_namespaced_lease,
                    self.namespace,
                    body,
                    _preload_content=False,
                )
            except AlreadyExistsError:
                return False
            self._observe(spec)
            return True
        spec = lease.get("spec") or {}
        self._observe(spec)
        holder = spec.get("holderIdentity")
        mine = holder == self.identity
        if holder and not mine:
            expired = time.monotonic() - self._observed_at > float(
                spec.get("leaseDurationSeconds") or seconds
            )
            if not expired:
                return False
        new_spec = dict(spec)
        new_spec["holderIdentity"] = self.identity
        new_spec["leaseDurationSeconds"] = seconds
        new_spec["renewTime"] = _micro(now)
        if not mine:
            new_spec["acquireTime"] = _micro(now)
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        lease["spec"] = new_spec
        try:
            self.store.call(
                ("Lease", self.namespace, self.name),
                self.coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                lease,
                _preload_content=False,
            )
        except (ConflictError, NotFoundError):
            return False
        self._observe(new_spec)
        return True

    def release(self) -> None:
        """Give the Lease up at once (a clean shutdown), if this candidate holds it."""
        try:
            lease = self._read()
        except NotFoundError:
            return
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity:
            return
        spec["holderIdentity"] = None
        lease["spec"] = spec
        try:
            self.store.call(
                ("Lease", self.namespace, self.name),
                self.coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                lease,
                _preload_content=False,
            )
        except (ConflictError, NotFoundError):
            pass

    def _observe(self, spec: dict[str, Any]) -> None:
        record = (
            spec.get("holderIdentity"),
            spec.get("renewTime"),
            spec.get("acquireTime"),
            spec.get("leaseTransitions"),
        )
        if record != self._observed:
            self._observed = record
            self._observed_at = time.monotonic()


WORKER_LABEL = "kontinue.cloud/worker-group"
FUNCTIONS_ANNOTATION = "kontinue.cloud/functions"
ALL_NAMESPACES_LABEL = "kontinue.cloud/all-namespaces"  # on a `worker -A`'s heartbeat Lease


class WorkerHeartbeat:
    """A worker's presence in the cluster: a Lease `kontinue-worker-<identity>` it renews.

    The CLI reads these to decide whether an Execution it starts is handed to a worker in
    the cluster (one serving its function is alive) or run in the CLI's own process.
    """

    def __init__(
        self,
        store: KubernetesStore,
        namespace: str,
        identity: str,
        group: str,
        functions: list[str],
        duration: float = 30.0,
        all_namespaces: bool = False,
    ) -> None:
        from kubernetes import client

        self.all_namespaces = all_namespaces
        self.store = store
        self.coordination = client.CoordinationV1Api(store.api_client)
        self.namespace = namespace
        self.name = worker_lease_name(identity)
        self.identity, self.group, self.functions = identity, group, functions
        self.duration = duration

    def beat(self) -> None:
        """Create or renew the Lease (last writer wins: it is this worker's own)."""
        now = _micro(datetime.now(UTC))
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": {
                    WORKER_LABEL: self.group,
                    **({ALL_NAMESPACES_LABEL: "true"} if self.all_namespaces else {}),
                },
                "annotations": {FUNCTIONS_ANNOTATION: ",".join(self.functions)},
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.duration)),
                "renewTime": now,
            },
        }
        what = ("Lease", self.namespace, self.name)
        try:
            self.store.call(
                what,
                self.coordination.replace_namespaced_lease,
                self.name,
                self.namespace,
                body,
                _preload_content=False,
            )
        except NotFoundError:
            try:
                self.store.call(
                    what,
                    self.coordination.create_namespaced_lease,
                    self.namespace,
                    body,
                    _preload_content=False,
                )
            except AlreadyExistsError:
                pass

    def stop(self) -> None:
        """Remove the Lease: this worker is gone."""
        try:
            self.store.call(
                ("Lease", self.namespace, self.name),
                self.coordination.delete_namespaced_lease,
                self.name,
                self.namespace,
                _preload_content=False,
            )
        except NotFoundError:
            pass


def worker_lease_name(identity: str) -> str:
    """The Lease name of a worker (a DNS subdomain: lower case, at most 253 characters)."""
    import re

    cleaned = re.sub(r"[^a-z0-9.-]+", "-", identity.lower()).strip("-.")
    return f"kontinue-worker-{cleaned}"[:253].rstrip("-.")


def live_workers(store: KubernetesStore, namespace: str) -> list[tuple[str, str, list[str]]]:
    """(identity, group, functions) of every worker whose heartbeat Lease is current and
    that serves `namespace`: those of the namespace, and those serving every namespace
    (`kontinue worker -A`, whose Lease lives in their own namespace) when this identity may
    list Leases in all namespaces."""
    from kubernetes import client

    coordination = client.CoordinationV1Api(store.api_client)
    response = store.call(
        ("Lease", namespace, "*"),
        coordination.list_namespaced_lease,
        namespace,
        label_selector=WORKER_LABEL,
        _preload_content=False,
    )
    leases = json.loads(response.data).get("items") or []
    try:
        response = store.call(
            ("Lease", "*", "*"),
            coordination.list_lease_for_all_namespaces,
            label_selector=f"{WORKER_LABEL},{ALL_NAMESPACES_LABEL}=true",
            _preload_content=False,
        )
        leases += [
            lease
            for lease in json.loads(response.data).get("items") or []
            if (lease.get("metadata") or {}).get("namespace") != namespace
        ]
    except StoreError:
        pass  # a namespaced role: only this namespace's workers are known
    now = datetime.now(UTC)
    out = []
    for lease in leases:
        spec = lease.get("spec") or {}
        renew = spec.get("renewTime")
        if not renew:
            continue
        renewed = datetime.fromisoformat(renew.replace("Z", "+00:00"))
        # a generous margin: clocks of the worker's node and of this machine may differ
        if (now - renewed).total_seconds() > 2 * float(spec.get("leaseDurationSeconds") or 30):
            continue
        meta = lease.get("metadata") or {}
        functions = (meta.get("annotations") or {}).get(FUNCTIONS_ANNOTATION, "")
        out.append(
            (
                spec.get("holderIdentity", ""),
                (meta.get("labels") or {}).get(WORKER_LABEL, ""),
                [f for f in functions.split(",") if f],
            )
        )
    return out
