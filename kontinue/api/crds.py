"""CustomResourceDefinitions of `kontinue.cloud/v1alpha1`, generated from the pydantic models.

Every resource in `kontinue.api.KINDS` gets a CRD with a structural OpenAPI v3 schema (derived
from the model's JSON Schema: references inlined, `Optional` as `nullable`, free-form values as
`x-kubernetes-preserve-unknown-fields`), the status subresource where the model has a status,
printer columns and short names. The generated files live in the Helm chart
(`helm/kontinue/crds/`); a test fails when they drift from the models. Regenerate them with

    python -m kontinue.api.crds helm/kontinue/crds

(`--check` compares instead of writing and exits 1 on a difference).
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
from pathlib import Path
from typing import Any

from kontinue.api._archive import ArchivedExecution
from kontinue.api._execution import Execution
from kontinue.api._function import Function, Mutex
from kontinue.api._meta import API_GROUP, Resource
from kontinue.api._schedule import ScheduledExecution
from kontinue.api._suspension import Suspension

__all__ = ["CATEGORY", "crd_manifest", "crd_manifests", "structural_schema"]

CATEGORY = "kontinue"
"""`kubectl get kontinue` lists every kontinue resource."""

_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}

# What `kubectl get` shows, and the short names, per kind. A kind added to KINDS without an
# entry here still gets a CRD (with an Age column and no short name).
_PRESENTATION: dict[str, dict[str, Any]] = {
    Execution.KIND: {
        "shortNames": ["kex", "kexec"],
        "columns": [
            {"name": "Function", "type": "string", "jsonPath": ".spec.function"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {
                "name": "Progress",
                "type": "integer",
                "jsonPath": ".status.progress.current",
                "description": "Steps done of Of (status.progress.current)",
            },
            {
                "name": "Of",
                "type": "integer",
                "jsonPath": ".status.progress.max",
                "description": "Steps in all (status.progress.max)",
            },
            {"name": "Message", "type": "string", "jsonPath": ".status.message"},
            _AGE,
            {
                "name": "Attempts",
                "type": "integer",
                "jsonPath": ".status.attempts",
                "priority": 1,
            },
            {
                "name": "Worker",
                "type": "string",
                "jsonPath": ".status.lease.holder",
                "priority": 1,
            },
        ],
    },
    Suspension.KIND: {
        "shortNames": ["ksus", "ksusp"],
        "columns": [
            {"name": "Execution", "type": "string", "jsonPath": ".spec.execution"},
            {"name": "Step", "type": "string", "jsonPath": ".spec.step"},
            {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
            {"name": "Resolved", "type": "boolean", "jsonPath": ".status.resolved"},
            {"name": "Resume-At", "type": "date", "jsonPath": ".spec.resumeAt"},
            _AGE,
        ],
    },
    Function.KIND: {
        "shortNames": ["kfn"],
        "columns": [
            {"name": "Group", "type": "string", "jsonPath": ".spec.workerGroup"},
            {"name": "Description", "type": "string", "jsonPath": ".spec.description"},
            _AGE,
        ],
    },
    ScheduledExecution.KIND: {
        "shortNames": ["ksched", "kse"],
        "columns": [
            {"name": "Function", "type": "string", "jsonPath": ".spec.function"},
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
            {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
            {"name": "Last-Schedule", "type": "date", "jsonPath": ".status.lastScheduleTime"},
            {"name": "Next-Schedule", "type": "date", "jsonPath": ".status.nextScheduleTime"},
            {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
            _AGE,
        ],
    },
    ArchivedExecution.KIND: {
        "shortNames": ["karch"],
        "columns": [
            {"name": "Function", "type": "string", "jsonPath": ".spec.function"},
            {"name": "Phase", "type": "string", "jsonPath": ".spec.phase"},
            {"name": "Steps", "type": "integer", "jsonPath": ".spec.steps"},
            {"name": "Message", "type": "string", "jsonPath": ".spec.message"},
            {"name": "Archived", "type": "date", "jsonPath": ".spec.archiveTime"},
            _AGE,
        ],
    },
    Mutex.KIND: {
        "shortNames": ["kmux"],
        "columns": [
            {"name": "Holder", "type": "string", "jsonPath": ".status.holder"},
            _AGE,
        ],
    },
}

# JSON Schema keywords a CRD's structural schema may carry over as they are.
_KEEP = {
    "description",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "enum",
}


def structural_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn one pydantic JSON Schema node into a Kubernetes structural schema node.

    `$ref`s are inlined from `defs` (structural schemas allow no references), `anyOf` with
    `null` becomes `nullable: true`, a node with no type (`Any`) or a free-form object keeps
    unknown fields, `const` becomes a one-value `enum`, and titles and defaults are dropped
    (defaults stay the models' business: the API server would otherwise write them in).
    """
    defs = defs if defs is not None else schema.get("$defs", {})
    node = dict(schema)
    node.pop("$defs", None)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    nullable = False
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        if len(options) == 1:
            node = {**structural_schema(options[0], defs), **_kept(node)}
        else:
            # A union of several shapes: keep it open (structural schemas allow one type).
            node = {"x-kubernetes-preserve-unknown-fields": True, **_kept(node)}
        if nullable:
            node["nullable"] = True
        return node
    out = _kept(node)
    if "const" in node:
        out["enum"] = [node["const"]]
    kind = node.get("type")
    if kind is None:
        out["x-kubernetes-preserve-unknown-fields"] = True
        return out
    out["type"] = kind
    if kind == "object":
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if properties:
            out["properties"] = {
                name: structural_schema(sub, defs) for name, sub in properties.items()
            }
            if node.get("required"):
                out["required"] = list(node["required"])
        elif isinstance(extra, dict) and extra.get("type"):
            out["additionalProperties"] = structural_schema(extra, defs)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = structural_schema(node.get("items", {}), defs)
    return out


def _kept(node: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in node.items() if k in _KEEP}


def crd_manifest(cls: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one resource model."""
    schema = cls.model_json_schema(by_alias=True, mode="validation")
    defs = schema.get("$defs", {})
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    for name, sub in schema.get("properties", {}).items():
        if name in properties:
            continue
        properties[name] = structural_schema(sub, defs)
    top: dict[str, Any] = {"type": "object", "properties": properties}
    if cls.__doc__:
        top = {"description": cls.__doc__.strip().splitlines()[0], **top}
    required = [r for r in schema.get("required", []) if r not in ("apiVersion", "kind")]
    if required:
        top["required"] = required
    presentation = _PRESENTATION.get(cls.KIND, {})
    version: dict[str, Any] = {
        "name": "v1alpha1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": top},
        "additionalPrinterColumns": presentation.get("columns", [_AGE]),
    }
    if cls.HAS_STATUS and "status" in properties:
        version["subresources"] = {"status": {}}
    names: dict[str, Any] = {
        "kind": cls.KIND,
        "listKind": f"{cls.KIND}List",
        "plural": cls.PLURAL,
        "singular": cls.KIND.lower(),
        "categories": [CATEGORY],
    }
    if presentation.get("shortNames"):
        names["shortNames"] = list(presentation["shortNames"])
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{cls.PLURAL}.{API_GROUP}",
            "labels": {"app.kubernetes.io/part-of": "kontinue"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": names,
            "versions": [version],
        },
    }


def crd_manifests() -> dict[str, dict[str, Any]]:
    """Every resource's CRD, by file name (`<plural>.kontinue.cloud.yaml`)."""
    from kontinue.api import KINDS

    return {
        f"{cls.PLURAL}.{API_GROUP}.yaml": crd_manifest(cls)
        for cls in sorted(KINDS.values(), key=lambda c: c.PLURAL)
    }


HEADER = (
    "# Generated from the models in kontinue/api by `python -m kontinue.api.crds`; do not edit.\n"
)


def render(manifest: dict[str, Any]) -> str:
    """One CRD as the YAML text checked into the chart."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(manifest, buffer)
    return HEADER + buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kontinue.api.crds",
        description="Write (or --check) the CRDs generated from kontinue's resource models.",
    )
    parser.add_argument(
        "directory", type=Path, help="where the CRD files go, e.g. helm/kontinue/crds"
    )
    parser.add_argument("--check", action="store_true", help="compare, write nothing; 1 on drift")
    args = parser.parse_args(argv)
    wanted = {name: render(m) for name, m in crd_manifests().items()}
    directory: Path = args.directory
    present = (
        {p.name: p.read_text() for p in directory.glob("*.yaml")} if directory.is_dir() else {}
    )
    stale = sorted(n for n in present if n not in wanted and present[n].startswith(HEADER))
    differ = sorted(n for n, text in wanted.items() if present.get(n) != text)
    if args.check:
        for name in differ + stale:
            print(f"{directory / name}: differs from the models", file=sys.stderr)
        if differ or stale:
            print(f"regenerate with: python -m kontinue.api.crds {directory}", file=sys.stderr)
            return 1
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    for name in differ:
        (directory / name).write_text(wanted[name])
    for name in stale:
        (directory / name).unlink()
    print(f"{len(differ)} written, {len(stale)} removed, {len(wanted) - len(differ)} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
