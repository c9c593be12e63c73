"""The compiled plan of a pipeline: a JSON-plain dict, plus TypedDicts describing its shape.

A plan is what an Execution of the built-in pipeline function stores as its argument, so a later
edit of the YAML file never changes a running pipeline. Everything in it is JSON, deterministic,
and free of absolute paths::

    {"apiVersion": "kontinue.cloud/v1alpha1", "kind": "PipelinePlan",
     "name": "release", "description": "...", "labels": {...}, "source": "release.yaml",
     "params": {...JSON Schema...}, "imports": ["steps.py"], "steps": [NODE, ...],
     "result": <template tree or null>}

Templates (to render with `kontinue.dsl.render` just before use) are: ``when`` (always one
``{{ expression }}``, for `kontinue.dsl.condition`), ``script.command``, ``script.env`` values,
``suspend.displayName``/``suspend.description``, ``call.with`` and ``result``. Everything else
is literal. Text fields (``command``, ``env`` values, ``suspend`` texts) are best rendered with
`kontinue.dsl.render_text`, which always gives a string; ``with`` and ``result`` with
`kontinue.dsl.render`, which keeps the type of single-expression strings. Durations are
normalized the way Go prints them (``5m0s``, ``30s``).

``imports`` are as written: a path ending in ``.py`` is relative to the directory of the
pipeline file, anything else is a module name. ``source`` is the file name of the top plan, and
for a plan embedded by a ``call`` the path relative to the top plan's directory.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Literal, TypedDict

__all__ = [
    "PLAN_KIND",
    "CallSpec",
    "Plan",
    "PlanNode",
    "RetrySpec",
    "ScriptSpec",
    "SuspendSpec",
    "TimeoutSpec",
]

PLAN_KIND = "PipelinePlan"

StepType = Literal["script", "sleep", "suspend", "parallel", "sequence", "call"]


class RetrySpec(TypedDict):
    """``retry`` of a node, defaults filled in."""

    retries: int
    backoff: str
    childPolicy: Literal["None", "RetryFailed"]


class TimeoutSpec(TypedDict):
    """``timeout`` of a node; a missing limit is None."""

    attempt: str | None
    overall: str | None


class ScriptSpec(TypedDict):
    """``script`` of a node; ``command`` and ``env`` values are templates."""

    image: str
    command: str
    shell: list[str]
    env: dict[str, str]
    workingDir: str | None


class SuspendSpec(TypedDict):
    """``suspend`` of a node; both texts are templates."""

    displayName: str | None
    description: str | None


CallSpec = TypedDict(
    "CallSpec", {"function": str, "pipeline": dict[str, Any], "with": Any}, total=False
)
"""``call`` of a node: ``function`` (a registered name) or ``pipeline`` (an embedded plan),
and ``with`` (the arguments as a template tree, None when not given)."""


class PlanNode(TypedDict, total=False):
    """One step of a plan. ``type`` names the one kind key present."""

    name: str
    type: StepType
    displayName: str | None
    description: str | None
    when: str | None
    retry: RetrySpec | None
    timeout: TimeoutSpec | None
    script: ScriptSpec
    sleep: dict[str, str]
    suspend: SuspendSpec
    parallel: dict[str, list[PlanNode]]
    sequence: dict[str, list[PlanNode]]
    call: CallSpec


class Plan(dict[str, Any]):
    """A compiled pipeline: a plain dict (``json.dumps(plan)`` works) with a few helpers."""

    @property
    def name(self) -> str:
        """The pipeline's name (``metadata.name``)."""
        return str(self["name"])

    @property
    def params(self) -> dict[str, Any]:
        """The JSON Schema of the pipeline's arguments."""
        params: dict[str, Any] = self["params"]
        return params

    @property
    def steps(self) -> list[PlanNode]:
        """The top-level step nodes."""
        steps: list[PlanNode] = self["steps"]
        return steps

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy as a plain dict."""
        return copy.deepcopy(dict(self))

    def to_json(self, *, indent: int | None = 2) -> str:
        """Serialize deterministically (field order is fixed by the compiler)."""
        return json.dumps(self, indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """Read a plan back from `to_json` output (or a stored Execution argument)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("kind") != PLAN_KIND:
            raise ValueError(f"not a pipeline plan: kind must be {PLAN_KIND!r}")
        return cls(data)
