"""The journal on Kubernetes: one fenced status patch per step, sealed into ConfigMap segments.

Measured on kube-apiserver 1.20 + etcd 3.4 (docs/kubernetes.md has the figures): a status
patch costs in proportion to the object's size, etcd stores the whole object again on every
write, and refuses objects above ~1.5 MiB. So the journal lives in three places:

- `status.journal` of the Execution (`next`, `sealed`, `tail`): the newest entries, at most
  `SEGMENT_ENTRIES` of them or `TAIL_BYTES` of JSON. A step is ONE JSON patch of `/status`
  whose `test` operations are the fence: the phase is `Executing`, the lease holder is this
  worker, `next` is this step's position. A worker that lost its lease, or a step position
  taken meanwhile, is refused by the server (422) and nothing is written.
- sealed segments: when the tail is full, its entries are written to a ConfigMap
  `kj-<uid>-<first>-<count>` (created before the patch that drops them from the tail, so a
  crash between leaves them in both places, never in neither). A segment only ever holds
  committed entries, so any worker writes the same content under that name.
- values above `INLINE_BYTES` go to a ConfigMap of their own (a random name, written before
  the patch that points at it), and the tail keeps a small reference. A value larger than a
  ConfigMap can hold (or than `KONTINUE_MAX_RESULT_BYTES`) is a `ValueTooLargeError` naming
  the step.

Every journal ConfigMap carries the label `kontinue.cloud/journal-of=<uid>` and an owner
reference to its Execution: replay reads the Execution and lists that label (one request
per `LIST_PAGE` objects), and the cluster's garbage collector deletes them with it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kontinue.api import API_GROUP, API_VERSION, Execution, JournalEntry, StepEntry, parse_journal
from kontinue.store._errors import (
    ConflictError,
    FencedError,
    NotFoundError,
    StoreError,
)
from kontinue.store._limits import JOURNAL_VALUE_BYTES, check_journal_entry, max_result_bytes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kontinue.store._kubernetes import KubernetesStore

__all__ = [
    "INLINE_BYTES",
    "JOURNAL_LABEL",
    "SEGMENT_ENTRIES",
    "TAIL_BYTES",
    "VALUE_BYTES",
    "Journal",
]

SEGMENT_ENTRIES = 16
TAIL_BYTES = 8 * 1024
INLINE_BYTES = 2 * 1024
VALUE_BYTES = JOURNAL_VALUE_BYTES  # a ConfigMap holds at most 1 MiB of data
LIST_PAGE = 100
JOURNAL_LABEL = "kontinue.cloud/journal-of"
_PART_LABEL = "kontinue.cloud/journal-part"
_REF = "$journalValue"
_HEADS_KEPT = 4096
_JSON_PATCH = "application/json-patch+json"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class _Head:
    """What this process knows of an Execution's journal (it only changes by its appends)."""

    uid: str
    next: int = 0
    sealed: int = 0
    tail: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0
    absent: bool = False  # status.journal does not exist yet
    version: str = ""  # resourceVersion when absent (the first append tests it)


class _Retry(Exception):
    """The patch's tests failed: re-read and either diagnose or try again."""


class Journal:
    """Appends and reads journals for a `KubernetesStore`."""

    def __init__(self, store: KubernetesStore) -> None:
        self.store = store
        self._heads: OrderedDict[tuple[str, str], _Head] = OrderedDict()
        self._lock = threading.Lock()

    # -- cache ---------------------------------------------------------------------------

    def _cached(self, key: tuple[str, str]) -> _Head | None:
        with self._lock:
            return self._heads.get(key)

    def _keep(self, key: tuple[str, str], head: _Head | None) -> None:
        with self._lock:
            if head is None:
                self._heads.pop(key, None)
                return
            self._heads[key] = head
            self._heads.move_to_end(key)
            while len(self._heads) > _HEADS_KEPT:
                self._heads.popitem(last=False)

    # -- append --------------------------------------------------------------------------

    def append(
        self,
        namespace: str,
        name: str,
        seq: int,
        entry: Mapping[str, Any] | StepEntry,
        holder: str,
    ) -> None:
        if isinstance(entry, StepEntry):  # typed: stored in its wire form
            entry = entry.wire()
        key = (namespace, name)
        head = self._cached(key)
        if head is None or head.next != seq:
            head = self._fetch(namespace, name, seq, holder)
        text = _dumps(entry)
        check_journal_entry(name, entry, len(text), min(max_result_bytes(), VALUE_BYTES))
        stored: dict[str, Any] = dict(entry)
        if len(text) > INLINE_BYTES:
            stored = self._offload(namespace, name, head.uid, seq, entry, text)
            text = _dumps(stored)
        for _ in range(5):
            try:
                self._patch(namespace, name, head, seq, stored, len(text), holder)
                self._keep(key, head)
                return
            except _Retry:
                self._keep(key, None)
                head = self._fetch(namespace, name, seq, holder)
        raise ConflictError(f'could not append step {seq} to Execution "{name}": it kept changing')

    def _fetch(self, namespace: str, name: str, seq: int, holder: str) -> _Head:
        """Read the Execution; raise what the patch's failed tests meant, else its head."""
        obj = self.store.get_raw(Execution, namespace, name)
        status = obj.get("status") or {}
        phase = status.get("phase", "Pending")
        lease_holder = (status.get("lease") or {}).get("holder")
        if phase != "Executing" or lease_holder != holder:
            raise FencedError(
                f'Execution "{name}" is {phase} and held by {lease_holder or "no worker"}, '
                f"not by {holder}; this worker must stop running it",
                phase,
            )
        head = self._head(obj)
        if seq < head.next:
            raise ConflictError(
                f'step {seq} of Execution "{name}" was already recorded by another worker'
            )
        if seq > head.next:
            raise ConflictError(
                f'step {seq} of Execution "{name}" is not the next position ({head.next}); '
                "the journal this worker replayed is stale"
            )
        return head

    @staticmethod
    def _head(obj: dict[str, Any]) -> _Head:
        meta = obj.get("metadata", {})
        journal = (obj.get("status") or {}).get("journal")
        if journal is None:
            return _Head(meta["uid"], absent=True, version=meta.get("resourceVersion", ""))
        tail = list(journal.get("tail") or [])
        return _Head(
            meta["uid"],
            next=int(journal.get("next", 0)),
            sealed=int(journal.get("sealed", 0)),
            tail=tail,
            size=sum(len(_dumps(e)) for e in tail),
        )

    def _patch(
        self,
        namespace: str,
        name: str,
        head: _Head,
        seq: int,
        stored: dict[str, Any],
        size: int,
        holder: str,
    ) -> None:
        ops: list[dict[str, Any]] = [
            {"op": "test", "path": "/status/phase", "value": "Executing"},
            {"op": "test", "path": "/status/lease/holder", "value": holder},
        ]
        seal = False
        if head.absent:
            ops += [
                {"op": "test", "path": "/metadata/resourceVersion", "value": head.version},
                {
                    "op": "add",
                    "path": "/status/journal",
                    "value": {"next": seq + 1, "sealed": 0, "tail": [stored]},
                },
            ]
        else:
            ops.append({"op": "test", "path": "/status/journal/next", "value": seq})
            seal = bool(head.tail) and (
                len(head.tail) >= SEGMENT_ENTRIES or head.size + size > TAIL_BYTES
            )
            if seal:
                self._seal(namespace, name, head)
                ops += [
                    {"op": "test", "path": "/status/journal/sealed", "value": head.sealed},
                    {"op": "replace", "path": "/status/journal/sealed", "value": head.next},
                    {"op": "replace", "path": "/status/journal/tail", "value": [stored]},
                ]
            else:
                ops.append({"op": "add", "path": "/status/journal/tail/-", "value": stored})
            ops.append({"op": "replace", "path": "/status/journal/next", "value": seq + 1})
        self._send(namespace, name, ops)
        if seal:
            head.sealed, head.tail, head.size = head.next, [stored], size
        else:
            head.tail.append(stored)
            head.size += size
        head.next = seq + 1
        head.absent = False

    def _send(self, namespace: str, name: str, ops: list[dict[str, Any]]) -> None:
        from kubernetes.client.exceptions import ApiException

        from kontinue.store._kubernetes import VERSION, drained, raise_api_error

        self.store.count()
        try:
            drained(
                self.store.custom.patch_namespaced_custom_object_status(
                    API_GROUP,
                    VERSION,
                    namespace,
                    Execution.PLURAL,
                    name,
                    ops,
                    _content_type=_JSON_PATCH,
                    _preload_content=False,
                )
            )
        except ApiException as exc:
            if exc.status == 422 and "test" in str(exc.body):
                raise _Retry from None
            if exc.status == 404:
                raise NotFoundError("Execution", namespace, name) from None
            if exc.status == 422:  # the test of a path that does not exist (no lease, ...)
                raise _Retry from None
            raise_api_error(exc, ("Execution", namespace, name))
        except StoreError:
            raise
        except Exception as exc:
            from kontinue.store._errors import StoreUnavailableError
            from kontinue.store._kubeconnect import unreachable

            host = self.store.api_client.configuration.host
            raise StoreUnavailableError(
                f'recording a step of Execution "{name}": {unreachable(host, exc)}'
            ) from None

    def _owner(self, name: str, uid: str) -> list[dict[str, Any]]:
        return [
            {
                "apiVersion": API_VERSION,
                "kind": "Execution",
                "name": name,
                "uid": uid,
                "controller": False,
                "blockOwnerDeletion": False,
            }
        ]

    def _config_map(
        self, namespace: str, name: str, uid: str, cm_name: str, part: str, data: dict[str, str]
    ) -> None:
        from kontinue.store._errors import AlreadyExistsError

        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": cm_name,
                "namespace": namespace,
                "labels": {JOURNAL_LABEL: uid, _PART_LABEL: part},
                "annotations": {"kontinue.cloud/execution": name},
                "ownerReferences": self._owner(name, uid),
            },
            "data": data,
        }
        try:
            self.store.call(
                ("ConfigMap", namespace, cm_name),
                self.store.core.create_namespaced_config_map,
                namespace,
                body,
                _preload_content=False,
            )
        except AlreadyExistsError:
            if part != "segment":
                raise
            # a segment holds committed entries only: whoever wrote it wrote the same

    def _seal(self, namespace: str, name: str, head: _Head) -> None:
        count = len(head.tail)
        cm_name = f"kj-{head.uid}-{head.sealed}-{count}"
        data = {"entries": _dumps(head.tail)}
        self._config_map(namespace, name, head.uid, cm_name, "segment", data)

    def _offload(
        self,
        namespace: str,
        name: str,
        uid: str,
        seq: int,
        entry: Mapping[str, Any],
        text: str,
    ) -> dict[str, Any]:
        cm_name = f"kj-{uid}-v{seq}-{secrets.token_hex(3)}"
        self._config_map(namespace, name, uid, cm_name, "value", {"entry": text})
        ref = {k: entry[k] for k in ("seq", "name", "kind") if k in entry}
        ref[_REF] = cm_name
        return ref

    # -- read ----------------------------------------------------------------------------

    def read_entries(self, namespace: str, name: str) -> list[JournalEntry]:
        """The journal typed by kind (`read` in the stored form, then validated)."""
        return parse_journal(self.read(namespace, name))

    def read(self, namespace: str, name: str) -> list[dict[str, Any]]:
        obj = self.store.get_raw(Execution, namespace, name)
        head = self._head(obj)
        self._keep((namespace, name), head)
        if head.absent:
            return []
        by_seq: dict[int, dict[str, Any]] = {}
        values: dict[str, dict[str, Any]] = {}
        if head.sealed or any(_REF in e for e in head.tail):
            for cm in self._list(namespace, head.uid):
                data = cm.get("data") or {}
                if "entries" in data:
                    for e in json.loads(data["entries"]):
                        by_seq.setdefault(int(e["seq"]), e)
                elif "entry" in data:
                    values[cm["metadata"]["name"]] = json.loads(data["entry"])
        for e in json.loads(_dumps(head.tail)):  # copies: the cache keeps its own
            by_seq[int(e["seq"])] = e
        out: list[dict[str, Any]] = []
        for seq in range(head.next):
            e = by_seq.get(seq)
            if e is not None and _REF in e:
                e = values.get(e[_REF])
            if e is None:
                raise StoreError(
                    f'the journal of Execution "{name}" in namespace "{namespace}" has lost step '
                    f"{seq}: a ConfigMap labelled {JOURNAL_LABEL}={head.uid} was deleted by hand"
                )
            out.append(e)
        return out

    def _list(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "label_selector": f"{JOURNAL_LABEL}={uid}",
                "limit": LIST_PAGE,
                "_preload_content": False,
            }
            if token:
                kwargs["_continue"] = token
            response = self.store.call(
                ("ConfigMap", namespace, "*"),
                self.store.core.list_namespaced_config_map,
                namespace,
                **kwargs,
            )
            page = json.loads(response.data)
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
