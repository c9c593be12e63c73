"""Step options and the deterministic naming of steps and child resources."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict

from kontinue.api import Error, ErrorKind

__all__ = [
    "StepOptions",
    "check_execution_name",
    "check_generate_name",
    "child_resource_name",
    "is_valid_step_name",
]

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9][-a-z0-9.]*$")
_NAME_MAX = 63  # names are also label values (kontinue.cloud/parent, .../root): at most 63
_RULES = (
    "use at most {n} lowercase letters, digits, '-' and '.', starting and ending with a letter "
    "or digit (Kubernetes' DNS rules)"
)


def check_execution_name(name: str, what: str = "Execution name") -> None:
    """Raise a Validation error naming `name` if it is not a valid Execution name."""
    if len(name) <= _NAME_MAX and _SUBDOMAIN.match(name):
        return
    raise Error(
        f"{what} {name!r} is not valid: {_RULES.format(n=_NAME_MAX)}",
        kind=ErrorKind.VALIDATION,
    )


def check_generate_name(prefix: str, what: str = "generate_name") -> None:
    """Raise a Validation error naming `prefix` if names made from it would not be valid."""
    room = _NAME_MAX - 6  # a 5-character suffix, or '-' and a counter
    if len(prefix) <= room and _PREFIX.match(prefix):
        return
    raise Error(
        f"{what} {prefix!r} is not a valid name prefix: {_RULES.format(n=room)}",
        kind=ErrorKind.VALIDATION,
    )


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
