"""The Kubernetes store: resources as custom resources of `kontinue.cloud/v1alpha1`.

Every call is one request to the API server through the official `kubernetes` client (the
journal and the change feed are described in `_kubejournal.py` and `_kubefeed.py`):

- `create` POSTs (names from `generateName` are the server's), `get` and `list` read with
  label selectors evaluated by the server;
- `update` PUTs the object and `update_status` PUTs its `/status` subresource, both with the
  caller's `resourceVersion`: a stale write is the server's 409, raised as `ConflictError`;
- `delete` asks for foreground deletion and waits until the object is gone, so the cluster's
  garbage collector has deleted every dependent that had no other owner by then;
- `watch` serves an in-process feed of long-lived watches (one per kind).
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from kontinue.api import API_GROUP, KINDS, Execution, JournalEntry, Lease, Resource, StepEntry
from kontinue.store._errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    ValueTooLargeError,
)
from kontinue.store._kubeconnect import unreachable
from kontinue.store._kubefeed import WATCH_SECONDS, Feed
from kontinue.store._kubejournal import Journal
from kontinue.store._limits import check_execution
from kontinue.store._protocol import R, WatchEvent
from kontinue.store._selectors import Selector, parse_selector

if TYPE_CHECKING:
    from kontinue.store._kubelease import KubeLeaderLease

__all__ = ["KubernetesStore", "drained", "selector_string"]

VERSION = "v1alpha1"
_SERVER_OWNED = ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp")
_DELETE_SECONDS = 60.0
_GENERATE_TRIES = 5
_FEEDS_KEPT = 3


def drained(response: Any) -> Any:
    """`response` with its body read, so that its connection goes back to the pool.

    A call made with `_preload_content=False` returns urllib3's response still holding its
    connection; a response dropped unread closes that connection, and the next request pays a
    new TCP and TLS handshake (measured: half the time of a journal step). Reading the body
    (`data` keeps it) hands the connection back for the next request.
    """
    if hasattr(response, "release_conn"):
        _ = response.data
        response.release_conn()
    return response


def selector_string(selector: Selector) -> str:
    """A parsed selector written back in the API server's syntax."""
    parts = []
    for r in selector.requirements:
        if r.op == "exists":
            parts.append(r.key)
        elif r.op == "!exists":
            parts.append(f"!{r.key}")
        elif r.op in ("=", "!="):
            parts.append(f"{r.key}{r.op}{r.values[0]}")
        else:
            parts.append(f"{r.key} {r.op} ({','.join(r.values)})")
    return ",".join(parts)


class KubernetesStore:
    """A `Store` on a Kubernetes API server.

    Args:
        api_client: a `kubernetes.client.ApiClient` (see `kontinue.store.connect_kubernetes`).
        namespace: the namespace this client works in by default (where `current_version`
            reads); calls that name a namespace use that one.
        owns_client: close `api_client` when the store is closed.
    """

    def __init__(
        self, api_client: Any, *, namespace: str = "default", owns_client: bool = False
    ) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self._owns_client = owns_client
        self._feeds: dict[str | None, builtins.list[Feed]] = {}
        self._feed_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests = 0
        self.journal = Journal(self)
        self.source = "an ApiClient given by the caller"
        """How the cluster was found (a kubeconfig and context, or in-cluster)."""

    # -- plumbing -----------------------------------------------------------------------------

    def count(self, n: int = 1) -> None:
        """Count API requests made (the benchmark reports requests per step)."""
        with self._count_lock:
            self.requests += n

    def call(self, what: tuple[str, str, str], fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Make one request; translate the API server's answer into store errors.

        `what` is (kind, namespace, name) for the messages.
        """
        from kubernetes.client.exceptions import ApiException

        self.count()
        try:
            return drained(fn(*args, **kwargs))
        except ApiException as exc:
            raise_api_error(exc, what)
        except StoreError:
            raise
        except Exception as exc:  # urllib3: refused, reset, timed out, TLS
            raise StoreUnavailableError(
                unreachable(self.api_client.configuration.host, exc)
            ) from None

    @staticmethod
    def plural(cls: type[Resource]) -> str:
        return cls.PLURAL

    @staticmethod
    def load(cls: type[R], body: Any) -> R:
        if isinstance(body, bytes | str):
            body = json.loads(body)
        return cls.model_validate(body)

    # -- Store ----------------------------------------------------------------------------

    def create(self, obj: R) -> R:
        cls = type(obj)
        body = obj.wire()
        meta = body["metadata"]
        namespace = meta.get("namespace") or "default"
        meta["namespace"] = namespace
        for key in _SERVER_OWNED:
            meta.pop(key, None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ValueError(f"{obj.kind} needs metadata.name or metadata.generateName")
            meta.pop("name", None)
        check_execution(body, spec=True, status=True)
        status = body.pop("status", None)
        what = (obj.kind, namespace, meta.get("name") or f"{meta.get('generateName')}*")
        for attempt in range(_GENERATE_TRIES):
            try:
                created = self.call(
                    what,
                    self.custom.create_namespaced_custom_object,
                    API_GROUP,
                    VERSION,
                    namespace,
                    cls.PLURAL,
                    body,
                    _preload_content=False,
                )
                break
            except AlreadyExistsError:
                # a generated name that happened to exist: the server does not retry it
                if meta.get("name") or attempt == _GENERATE_TRIES - 1:
                    raise
        stored = self.load(cls, created.data)
        default_status = _default_status(cls)
        if cls.HAS_STATUS and status is not None and status != default_status:
            # the API server ignores status on create: write it through /status
            stored = self.update_status(cls.model_validate({**stored.wire(), "status": status}))
        return stored

    def get(self, cls: type[R], namespace: str, name: str) -> R:
        response = self.call(
            (cls.KIND, namespace, name),
            self.custom.get_namespaced_custom_object,
            API_GROUP,
            VERSION,
            namespace,
            cls.PLURAL,
            name,
            _preload_content=False,
        )
        return self.load(cls, response.data)

    def get_raw(self, cls: type[Resource], namespace: str, name: str) -> dict[str, Any]:
        """The object as the server holds it (a plain dict)."""
        response = self.call(
            (cls.KIND, namespace, name),
            self.custom.get_namespaced_custom_object,
            API_GROUP,
            VERSION,
            namespace,
            cls.PLURAL,
            name,
            _preload_content=False,
        )
        body: dict[str, Any] = json.loads(response.data)
        return body

    def list(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
    ) -> builtins.list[R]:
        return list(self.iterate(cls, namespace, selector, phases=phases))

    def iterate(
        self,
        cls: type[R],
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[R]:
        """`list` in pages of `page` (`limit` and `continue`). Labels are selected by the
        server; `phases` here (the API server selects custom resources by labels only)."""
        for item in self._items(cls, namespace, selector, phases, page):
            yield self.load(cls, item)

    def iterate_wire(
        self,
        kind: str,
        namespace: str | None = None,
        selector: str | Mapping[str, str] | Selector | None = None,
        *,
        phases: Collection[str] | None = None,
        page: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """`iterate` without the models: the objects as the API server returns them."""
        yield from self._items(KINDS[kind], namespace, selector, phases, page)

    def _items(
        self,
        cls: type[Resource],
        namespace: str | None,
        selector: str | Mapping[str, str] | Selector | None,
        phases: Collection[str] | None,
        page: int,
    ) -> Iterator[dict[str, Any]]:
        label_selector = selector_string(parse_selector(selector))
        wanted = set(phases) if phases is not None else None
        for chunk in self._pages(cls, namespace, label_selector, page):
            for item in chunk:
                if (
                    wanted is not None
                    and (item.get("status") or {}).get("phase", "Pending") not in wanted
                ):
                    continue
                yield item

    def list_raw(
        self, cls: type[Resource], namespace: str | None, label_selector: str = "", limit: int = 500
    ) -> builtins.list[dict[str, Any]]:
        """Every object of a kind (paged), as plain dicts."""
        return [
            item for chunk in self._pages(cls, namespace, label_selector, limit) for item in chunk
        ]

    def _pages(
        self, cls: type[Resource], namespace: str | None, label_selector: str, limit: int
    ) -> Iterator[builtins.list[dict[str, Any]]]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": limit, "_preload_content": False}
            if label_selector:
                kwargs["label_selector"] = label_selector
            if token:
                kwargs["_continue"] = token
            what = (cls.KIND, namespace or "*", "*")
            if namespace is None:
                response = self.call(
                    what,
                    self.custom.list_cluster_custom_object,
                    API_GROUP,
                    VERSION,
                    cls.PLURAL,
                    **kwargs,
                )
            else:
                response = self.call(
                    what,
                    self.custom.list_namespaced_custom_object,
                    API_GROUP,
                    VERSION,
                    namespace,
                    cls.PLURAL,
                    **kwargs,
                )
            body = json.loads(response.data)
            yield body.get("items") or []
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return

    def _replace(self, obj: R, status: bool) -> R:
        cls = type(obj)
        body = obj.wire()
        meta = body["metadata"]
        namespace = meta.get("namespace") or "default"
        what = (obj.kind, namespace, meta.get("name", ""))
        if not meta.get("resourceVersion"):
            raise ConflictError(
                f'{obj.kind} "{obj.name}" has no resourceVersion: read it from the store, '
                "change it and write it back"
            )
        for key in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            meta.pop(key, None)  # the server keeps its own
        check_execution(body, spec=not status, status=status)
        if status:
            if not cls.HAS_STATUS:
                raise ValueError(f"{obj.kind} has no status")
            fn = self.custom.replace_namespaced_custom_object_status
        else:
            body.pop("status", None)
            fn = self.custom.replace_namespaced_custom_object
        response = self.call(
            what,
            fn,
            API_GROUP,
            VERSION,
            namespace,
            cls.PLURAL,
            meta["name"],
            body,
            _preload_content=False,
        )
        return self.load(cls, response.data)

    def update(self, obj: R) -> R:
        return self._replace(obj, status=False)

    def update_status(self, obj: R) -> R:
        return self._replace(obj, status=True)

    def delete(self, cls: type[Resource], namespace: str, name: str) -> None:
        """Delete with background propagation, then wait for the garbage collector.

        Kubernetes' collector deletes the dependents; the store finds which of its kinds go
        with the object (those whose owners all go or are gone, transitively) and waits until
        they are gone, so that a caller sees the cascade finished, as on the embedded store.
        """
        from kubernetes import client

        doomed = self._dependents(cls, namespace, name)
        self.call(
            (cls.KIND, namespace, name),
            self.custom.delete_namespaced_custom_object,
            API_GROUP,
            VERSION,
            namespace,
            cls.PLURAL,
            name,
            body=client.V1DeleteOptions(propagation_policy="Background"),
            _preload_content=False,
        )
        deadline = time.monotonic() + _DELETE_SECONDS
        for kind, dep_name, uid in doomed:
            self._wait_gone(KINDS[kind], namespace, dep_name, uid, deadline)

    def _dependents(
        self, cls: type[Resource], namespace: str, name: str
    ) -> builtins.list[tuple[str, str, str]]:
        """(kind, name, uid) of the object and of everything that goes with it."""
        objects: dict[str, tuple[str, str, builtins.list[str]]] = {}
        for kind, kind_cls in KINDS.items():
            for obj in self.list_raw(kind_cls, namespace):
                meta = obj.get("metadata") or {}
                owners = [r.get("uid", "") for r in meta.get("ownerReferences") or []]
                objects[meta.get("uid", "")] = (kind, meta.get("name", ""), owners)
        root = next(
            (uid for uid, (k, n, _) in objects.items() if k == cls.KIND and n == name), None
        )
        if root is None:
            return []  # the delete itself says NotFound
        doomed = {root}
        changed = True
        while changed:
            changed = False
            for uid, (_kind, _name, owners) in objects.items():
                if uid in doomed or not owners or not (set(owners) & doomed):
                    continue
                if all(o in doomed or o not in objects for o in owners):
                    doomed.add(uid)
                    changed = True
        return [(objects[u][0], objects[u][1], u) for u in doomed]

    def _wait_gone(
        self, cls: type[Resource], namespace: str, name: str, uid: str, deadline: float
    ) -> None:
        """Wait until the object of that uid no longer exists."""
        pause = 0.005
        while True:
            try:
                current = self.get_raw(cls, namespace, name)
            except NotFoundError:
                return
            if current.get("metadata", {}).get("uid") != uid:
                return  # gone, and a new one of that name was created since
            if time.monotonic() > deadline:
                raise StoreUnavailableError(
                    f'{cls.KIND} "{name}" in namespace "{namespace}" is still there '
                    f"{_DELETE_SECONDS:g}s after its owner was deleted: the garbage collector "
                    "of kube-controller-manager deletes dependents; is it running?"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    # -- versions and watches -----------------------------------------------------------------

    def _current_rv(self, namespace: str | None) -> int:
        kwargs: dict[str, Any] = {"limit": 1, "_preload_content": False}
        what = ("Execution", namespace or "*", "*")
        if namespace is None:
            response = self.call(
                what,
                self.custom.list_cluster_custom_object,
                API_GROUP,
                VERSION,
                Execution.PLURAL,
                **kwargs,
            )
        else:
            response = self.call(
                what,
                self.custom.list_namespaced_custom_object,
                API_GROUP,
                VERSION,
                namespace,
                Execution.PLURAL,
                **kwargs,
            )
        return int(json.loads(response.data)["metadata"]["resourceVersion"])

    def current_version(self) -> str:
        return str(self._current_rv(self.namespace))

    def _open_stream(self, namespace: str | None, kind: str, version: int) -> Any:
        cls = KINDS[kind]
        kwargs: dict[str, Any] = {
            "watch": True,
            "resource_version": str(version),
            "allow_watch_bookmarks": True,
            "timeout_seconds": WATCH_SECONDS,
            "_preload_content": False,
            "_request_timeout": (10, WATCH_SECONDS + 30),
        }
        if namespace is None:
            return self.custom.list_cluster_custom_object(API_GROUP, VERSION, cls.PLURAL, **kwargs)
        return self.custom.list_namespaced_custom_object(
            API_GROUP, VERSION, namespace, cls.PLURAL, **kwargs
        )

    def _feed(self, namespace: str | None, since: int, kinds: tuple[str, ...] | None) -> Feed:
        """A feed of the scope that can serve a watch from `since`, started there if none.

        A feed started at an older version than the others serves callers that list at an
        older version (tests, slow relists); at most `_FEEDS_KEPT` live per scope.
        """
        with self._feed_lock:
            feeds = self._feeds.setdefault(namespace, [])
            for feed in feeds:
                if feed.serves(since, kinds, namespace):
                    return feed
            feed = Feed(
                lambda kind, version: self._open_stream(namespace, kind, version),
                lambda: self._current_rv(namespace),
                tuple(k for k, c in KINDS.items() if c.PLURAL),
                since,
            )
            feeds.insert(0, feed)
            while len(feeds) > _FEEDS_KEPT:
                feeds.pop().close()
        feed.wait_ready()
        return feed

    def watch(
        self,
        since: str | None = None,
        kinds: tuple[str, ...] | None = None,
        namespace: str | None = None,
        timeout: float = 0.0,
    ) -> Iterator[WatchEvent]:
        start = int(since) if since is not None else self._current_rv(namespace)
        deadline = time.monotonic() + timeout
        return self._feed(namespace, start, kinds).watch(start, kinds, namespace, deadline)

    def renew_lease(
        self, namespace: str, name: str, holder: str, renew: datetime, expire: datetime
    ) -> bool:
        """Extend an Execution's lease with one fenced patch (still Executing, still held by
        `holder`); False when the server refused it (then re-read and decide)."""
        stamps = Lease(holder=holder, acquire_time=renew, renew_time=renew, expire_time=expire)
        wire = stamps.wire()
        ops = [
            {"op": "test", "path": "/status/phase", "value": "Executing"},
            {"op": "test", "path": "/status/lease/holder", "value": holder},
            {"op": "replace", "path": "/status/lease/renewTime", "value": wire["renewTime"]},
            {"op": "replace", "path": "/status/lease/expireTime", "value": wire["expireTime"]},
        ]
        try:
            self.call(
                ("Execution", namespace, name),
                self.custom.patch_namespaced_custom_object_status,
                API_GROUP,
                VERSION,
                namespace,
                Execution.PLURAL,
                name,
                ops,
                _content_type="application/json-patch+json",
                _preload_content=False,
            )
        except StoreError as exc:
            if isinstance(exc, NotFoundError | StoreUnavailableError):
                raise
            return False
        return True

    # -- leader election ------------------------------------------------------------------

    def leader_lease(
        self, name: str, identity: str, duration: float, namespace: str | None = None
    ) -> KubeLeaderLease:
        """A `coordination.k8s.io/v1` Lease for leader election among controllers."""
        from kontinue.store._kubelease import KubeLeaderLease

        return KubeLeaderLease(self, namespace or self.namespace, name, identity, duration)

    # -- journal --------------------------------------------------------------------------

    def append_journal(
        self,
        namespace: str,
        name: str,
        seq: int,
        entry: Mapping[str, Any] | StepEntry,
        holder: str,
    ) -> None:
        self.journal.append(namespace, name, seq, entry, holder)

    def read_journal(self, namespace: str, name: str) -> builtins.list[dict[str, Any]]:
        return self.journal.read(namespace, name)

    # -- secrets ----------------------------------------------------------------------------

    def write_secret(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        """A `v1` Secret (type Opaque); the Execution holds only its name."""
        from kubernetes import client

        what = ("Secret", namespace, name)
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name, namespace=namespace, labels={"app.kubernetes.io/managed-by": "kontinue"}
            ),
            type="Opaque",
            string_data=dict(data),
        )
        try:
            self.call(what, self.core.create_namespaced_secret, namespace, body)
        except AlreadyExistsError:
            self.call(what, self.core.replace_namespaced_secret, name, namespace, body)

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        import base64

        secret = self.call(
            ("Secret", namespace, name), self.core.read_namespaced_secret, name, namespace
        )
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def adopt_secret(self, namespace: str, name: str, owner: Resource) -> None:
        """The owner's ownerReference on the Secret: the garbage collector deletes it with
        the Execution."""
        ref = owner.owner_reference().model_dump(by_alias=True, exclude_none=True)
        patch = {"metadata": {"ownerReferences": [ref]}}
        self.call(
            ("Secret", namespace, name), self.core.patch_namespaced_secret, name, namespace, patch
        )

    def read_entries(self, namespace: str, name: str) -> builtins.list[JournalEntry]:
        return self.journal.read_entries(namespace, name)

    def close(self) -> None:
        with self._feed_lock:
            feeds = [f for scope in self._feeds.values() for f in scope]
            self._feeds = {}
        for feed in feeds:
            feed.close()
        if self._owns_client:
            try:
                self.api_client.close()
            except Exception:
                pass


def _default_status(cls: type[Resource]) -> Any:
    field = cls.model_fields.get("status")
    if field is None or field.default_factory is None:
        return None
    return field.default_factory().wire()  # type: ignore[call-arg]


def raise_api_error(exc: Any, what: tuple[str, str, str]) -> NoReturn:
    """Raise the store error for an `ApiException` about `what` (kind, namespace, name).

    The error says all there is to say: it does not carry the client's exception (whose
    text is the whole HTTP exchange, headers included) as its cause.
    """
    try:
        _raise_api_error(exc, what)
    except StoreError as err:
        raise err from None


def _raise_api_error(exc: Any, what: tuple[str, str, str]) -> NoReturn:
    kind, namespace, name = what
    status = int(exc.status or 0)
    try:
        detail = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        detail = {}
    reason = detail.get("reason", "") if isinstance(detail, dict) else ""
    message = (detail.get("message") if isinstance(detail, dict) else None) or str(exc.reason)
    if status == 404:
        details = detail.get("details") or {} if isinstance(detail, dict) else {}
        if details.get("kind") == "namespaces":
            raise StoreError(
                f'namespace "{namespace}" does not exist; create it (kubectl create namespace '
                f"{namespace}) or choose another with -n"
            )
        if details.get("group") == API_GROUP or name not in ("", "*"):
            raise NotFoundError(kind, namespace, name)
        raise StoreError(
            f"the API server does not serve {kind} resources ({message}); install kontinue's "
            "CRDs (helm install kontinue helm/kontinue, or kubectl apply -f helm/kontinue/crds)"
        )
    if status == 409:
        if reason == "AlreadyExists":
            raise AlreadyExistsError(kind, namespace, name)
        raise ConflictError(
            f'{kind} "{name}" was modified meanwhile ({message}); re-read it and try again'
        )
    if status == 410:
        raise GoneError(f"{message}; list again and watch from the version the list returned")
    if status == 413 or (status == 500 and "too large" in message):
        raise ValueTooLargeError(
            f'{kind} "{name}" is too large to store in Kubernetes ({message}); etcd keeps '
            "objects up to about 1.5 MiB"
        )
    if status == 401:
        raise StoreUnavailableError(
            f"the Kubernetes API server refused the credentials ({message}); log in again or "
            "check the user of your kubeconfig context"
        )
    if status == 403:
        raise StoreError(
            f"the Kubernetes API server forbids this ({message}); the account needs the kontinue "
            "Role (helm/kontinue installs it) in this namespace"
        )
    if status in (400, 422):
        raise StoreError(f'{kind} "{name}" was refused by the API server: {message}')
    raise StoreUnavailableError(f"the Kubernetes API server failed ({status}): {message}")
