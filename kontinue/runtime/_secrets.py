"""Secret arguments: kept out of the Execution, given to the function, masked in what it leaves.

A pipeline marks a param secret in its params schema (`format: password` or
`x-kontinue-secret: true`); a Python function does the same with its argument type (a pydantic
`SecretStr` field is published as `format: password`). When the Execution is created, each
secret value is replaced in `spec.arguments` by `******` and kept in the store's secret
storage (a 0600 file beside the embedded store, a `v1` Secret on Kubernetes, owned by the
Execution); the Execution's annotation `kontinue.cloud/secret` names it. So `get -o yaml`,
`tree`, `describe`, the UI and the HTTP API show `******` without knowing about secrets.

The worker reveals the values to the function only. Whatever the run leaves — its result, its
messages and errors, journaled step outcomes (a script that echoes the value), the arguments
of its children (sealed again into the child's own secret) — has every secret value replaced
by `******`, as GitHub Actions masks a secret in its logs; so do the CLI and the server when
they show a job's log.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from kontinue.api import Execution, Function, Resource
from kontinue.store import SECRET_ANNOTATION, NotFoundError, Store

__all__ = [
    "MASK",
    "create_like",
    "create_sealed",
    "mask",
    "reveal_arguments",
    "seal_by_schema",
    "seal_by_values",
    "seal_job_env",
    "secret_values_of",
    "tree_secret_values",
]

MASK = "******"
_MIN_MASKED = 3  # shorter values would mask every "1" or "ok" in the output
_PIPELINE_FUNCTION = "kontinue.pipeline"
_KEY = "arguments"  # the stored secret's values: [[path, value], ...] as JSON
_MASK_KEY = "mask"  # ... and, when not those values themselves, what to mask: [value, ...]

Path = tuple[str, ...]
R = TypeVar("R", bound=Resource)


def _secret_schema(schema: Any) -> bool:
    return isinstance(schema, Mapping) and (
        schema.get("format") == "password" or schema.get("x-kontinue-secret") is True
    )


def secret_paths(schema: Any, defs: Mapping[str, Any] | None = None) -> list[Path]:
    """The paths (keys from the top) of the properties a JSON Schema marks secret."""
    if not isinstance(schema, Mapping):
        return []
    defs = defs if defs is not None else schema.get("$defs") or {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        schema = defs.get(ref.removeprefix("#/$defs/"), {})
    out: list[Path] = []
    for key, sub in (schema.get("properties") or {}).items():
        if _secret_schema(sub):
            out.append((key,))
        else:
            out.extend((key, *rest) for rest in secret_paths(sub, defs))
    return out


def _schema_for(store: Store, namespace: str, function: str, arguments: Any) -> Any:
    if function == _PIPELINE_FUNCTION:
        plan = arguments.get("plan") if isinstance(arguments, Mapping) else None
        params = plan.get("params") if isinstance(plan, Mapping) else None
        return {"properties": {"params": params}} if params else None
    try:
        return store.get(Function, namespace, function).spec.argument_schema
    except NotFoundError:
        from kontinue.runtime._registry import REGISTRY

        return REGISTRY.get(function).argument_schema() if function in REGISTRY else None


def seal_by_schema(
    store: Store, namespace: str, function: str, arguments: Any
) -> tuple[Any, list[list[Any]]]:
    """`arguments` with the values its schema marks secret masked, and those values."""
    paths = secret_paths(_schema_for(store, namespace, function, arguments))
    if not paths or not isinstance(arguments, Mapping):
        return arguments, []
    masked = json.loads(json.dumps(arguments))
    sealed: list[list[Any]] = []
    for path in paths:
        parent: Any = masked
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict) and path[-1] in parent and parent[path[-1]] is not None:
            sealed.append([list(path), parent[path[-1]]])
            parent[path[-1]] = MASK
    return masked, sealed


def seal_by_values(arguments: Any, values: Collection[str]) -> tuple[Any, list[list[Any]]]:
    """`arguments` with every string holding a secret value masked, and those strings (a
    child's arguments built from its parent's secret params)."""
    sealed: list[list[Any]] = []

    def walk(value: Any, path: list[Any]) -> Any:
        if isinstance(value, str):
            if any(v in value for v in values):
                sealed.append([path, value])
                return mask(value, values)
            return value
        if isinstance(value, dict):
            return {k: walk(v, [*path, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, [*path, i]) for i, v in enumerate(value)]
        return value

    if not values:
        return arguments, []
    return walk(arguments, []), sealed


def create_sealed(store: Store, ex: R, sealed: list[list[Any]], masked: Collection[str] = ()) -> R:
    """Store `ex` (its arguments already masked) with its sealed values in a secret it owns.

    `masked`: the values to mask in what it leaves (default: the sealed values themselves; a
    child sealed by its parent's values masks those, not the whole strings holding them).
    """
    if not sealed:
        return store.create(ex)
    namespace = ex.metadata.namespace
    name = f"kontinue-secret-{secrets.token_hex(8)}"
    data = {_KEY: json.dumps(sealed)}
    if masked:
        data[_MASK_KEY] = json.dumps(sorted(masked))
    store.write_secret(namespace, name, data)
    ex.metadata.annotations = {**ex.metadata.annotations, SECRET_ANNOTATION: name}
    created = store.create(ex)
    store.adopt_secret(namespace, name, created)
    return created


def create_like(store: Store, source: Resource, ex: R) -> R:
    """Store `ex`, a new run of `source`'s spec, with a copy of `source`'s secret values
    (`kontinue resubmit`, a schedule's runs). Raises Error when they are gone."""
    sealed, masked = _secret_of(store, source)
    return create_sealed(store, ex, sealed, masked or ())


def _masked_of(store: Store, ex: Execution) -> list[str]:
    sealed, masked = _secret_of(store, ex)
    return _values(masked if masked is not None else (value for _, value in sealed))


def _secret_of(store: Store, ex: Resource) -> tuple[list[list[Any]], list[str] | None]:
    name = ex.metadata.annotations.get(SECRET_ANNOTATION)
    if not name:
        return [], None
    try:
        data = store.read_secret(ex.metadata.namespace, name)
    except NotFoundError:
        from kontinue.runtime._errors import Error, ErrorKind

        raise Error(
            f'the secret arguments of {ex.kind} "{ex.metadata.name}" (secret "{name}") are '
            "gone; create it again with its secret values",
            kind=ErrorKind.VALIDATION,
            retryable=False,
        ) from None
    masked = json.loads(data[_MASK_KEY]) if _MASK_KEY in data else None
    return list(json.loads(data.get(_KEY, "[]"))), masked


def reveal_arguments(store: Store, ex: Execution) -> tuple[Any, list[str]]:
    """The Execution's real arguments, and the secret values to mask in what it leaves."""
    sealed, masked = _secret_of(store, ex)
    arguments = ex.spec.arguments
    if not sealed:
        return arguments, []
    arguments = json.loads(json.dumps(arguments))
    for path, value in sealed:
        if not path:
            arguments = value
            continue
        parent = arguments
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    return arguments, _values(masked if masked is not None else (v for _, v in sealed))


def secret_values_of(store: Store, ex: Execution) -> list[str]:
    """The secret values of an Execution and of the Executions above it (a child's job logs
    show its parent's secrets too), for masking what is shown of it."""
    values: list[str] = []
    seen: set[str] = set()
    current: Execution | None = ex
    while current is not None and current.metadata.uid not in seen:
        seen.add(current.metadata.uid or "")
        with contextlib.suppress(Exception):  # a gone secret: nothing to mask
            values += _masked_of(store, current)
        owner = next(iter(current.metadata.owner_references), None)
        if owner is None or owner.kind != "Execution":
            break
        try:
            current = store.get(Execution, current.metadata.namespace, owner.name)
        except NotFoundError:
            break
    return values


def tree_secret_values(store: Store, root: Execution) -> list[str]:
    """The secret values of `root`, the Executions above it and every one below it: what to
    mask in the logs of the tree's jobs."""
    from kontinue.runtime._tree import tree_executions

    values = set(secret_values_of(store, root))
    for ex in tree_executions(store, root):
        with contextlib.suppress(Exception):  # a gone secret: nothing to mask
            values.update(_masked_of(store, ex))
    return sorted(values, key=len, reverse=True)


def _values(raw: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in raw:
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) >= _MIN_MASKED:
            out.append(text)
            # the same value as it appears inside JSON (quotes and backslashes escaped)
            escaped = json.dumps(text)[1:-1]
            if escaped != text:
                out.append(escaped)
    return sorted(set(out), key=len, reverse=True)  # longest first: no partial masking


def mask(value: Any, values: Collection[str]) -> Any:
    """`value` with every occurrence of a secret value in its strings replaced by `******`."""
    if not values:
        return value
    if isinstance(value, str):
        for secret in values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: mask(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, values) for v in value]
    return value


def seal_job_env(
    store: Store, spec: dict[str, Any], job: str, owner: Execution, values: Collection[str]
) -> dict[str, Any]:
    """A Kubernetes Job spec whose env values holding a secret value read it from a `v1`
    Secret (`<job>-env`, owned by the Execution) instead of carrying it in the Job's spec,
    where anyone who may read Jobs would see it. Returns `spec` unchanged if none does."""
    values = [v for v in values if len(v) >= _MIN_MASKED]
    pod = (spec.get("template") or {}).get("spec") or {}
    if not values or not pod:
        return spec
    name = f"{job}-env"
    sealed: dict[str, str] = {}

    def container(c: dict[str, Any]) -> dict[str, Any]:
        env = []
        for var in c.get("env") or []:
            value = var.get("value")
            if isinstance(value, str) and any(v in value for v in values):
                key = f"{c.get('name', 'main')}.{var['name']}"
                sealed[key] = value
                var = {
                    "name": var["name"],
                    "valueFrom": {"secretKeyRef": {"name": name, "key": key}},
                }
            env.append(var)
        return {**c, "env": env} if c.get("env") else c

    new_pod = {
        **pod,
        **{
            field: [container(c) for c in pod[field]]
            for field in ("initContainers", "containers")
            if pod.get(field)
        },
    }
    if not sealed:
        return spec
    store.write_secret(owner.metadata.namespace, name, sealed)
    store.adopt_secret(owner.metadata.namespace, name, owner)
    return {**spec, "template": {**spec["template"], "spec": new_pod}}
