"""The Suspension resource: a sleep until a time, or a gate until someone resolves it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from kontinue.api._meta import Resource, WireModel

__all__ = ["Suspension", "SuspensionSpec", "SuspensionStatus"]


class SuspensionSpec(WireModel):
    """Which Execution and step is paused, and until when (for sleeps)."""

    execution: str
    step: str
    type: Literal["Sleep", "Suspend", "Poll"] = "Suspend"
    resume_at: datetime | None = None
    display_name: str | None = None
    description: str | None = None
    inputs: dict[str, Any] | None = None
    """A JSON Schema (type object) of what the person resolving it must give, if anything."""


class SuspensionStatus(WireModel):
    """Whether and how the Suspension was resolved."""

    resolved: bool = False
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    inputs: dict[str, Any] | None = None
    """What the person resolving it gave, valid against `spec.inputs`."""


class Suspension(Resource):
    """A pause of an Execution (`kind: Suspension`), owned by that Execution."""

    KIND: ClassVar[str] = "Suspension"
    PLURAL: ClassVar[str] = "suspensions"

    spec: SuspensionSpec
    status: SuspensionStatus = Field(default_factory=SuspensionStatus)
