"""Step options and the deterministic naming of steps and child resources."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict

__all__ = ["StepOptions", "child_resource_name", "is_valid_step_name"]

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class StepOptions(BaseModel):
    """Naming and display options every SDK operation accepts.

    Attributes:
        name: explicit step name; unique within the Execution, a Kubernetes-style name.
        generate_name: prefix for a generated name, combined with a deterministic counter.
        display_name: human-readable name shown in the CLI and UI.
        description: longer text shown in the UI's details panel.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    generate_name: str | None = None
    display_name: str | None = None
    description: str | None = None


def is_valid_step_name(name: str) -> bool:
    """Whether `name` is a lowercase RFC 1123 label of at most 63 characters."""
    return len(name) <= 63 and bool(_LABEL.match(name))


def child_resource_name(parent: str, step: str, limit: int = 63) -> str:
    """The deterministic name of a resource a step creates: `<parent>-<step>`.

    Names longer than `limit` are cut and end in a short hash of the full name, so they stay
    unique and stable across replays.
    """
    full = f"{parent}-{step}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-')}-{digest}"
