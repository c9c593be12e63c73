"""Object metadata shared by every resource, shaped like Kubernetes' ObjectMeta."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["API_GROUP", "API_VERSION", "ObjectMeta", "OwnerReference", "Resource", "WireModel"]

API_GROUP = "kontinue.cloud"
API_VERSION = f"{API_GROUP}/v1alpha1"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class WireModel(BaseModel):
    """Base of every persisted model: camelCase on the wire, snake_case in Python."""

    # defer_build: a model's validator is built when first used, not at import, so a
    # command pays only for the kinds it reads (`kontinue list` starts faster)
    model_config = ConfigDict(
        alias_generator=_camel,
        populate_by_name=True,
        extra="ignore",
        validate_assignment=False,
        defer_build=True,
    )

    def wire(self) -> dict[str, Any]:
        """Return the JSON-plain dict written to a store (camelCase, no None values)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class OwnerReference(WireModel):
    """Points from a dependent resource to its owner; deleting the owner deletes it."""

    api_version: str = API_VERSION
    kind: str
    name: str
    uid: str
    controller: bool | None = True
    block_owner_deletion: bool | None = True


class ObjectMeta(WireModel):
    """Name, namespace, labels and bookkeeping of a resource."""

    name: str = ""
    generate_name: str | None = None
    namespace: str = "default"
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)


class Resource(WireModel):
    """A namespaced resource with metadata; subclasses add spec and status."""

    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    HAS_STATUS: ClassVar[bool] = True

    api_version: str = API_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def model_post_init(self, _context: Any) -> None:
        if not self.kind:
            self.kind = self.KIND

    @property
    def name(self) -> str:
        """The resource's name (metadata.name)."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """The resource's namespace (metadata.namespace)."""
        return self.metadata.namespace

    def owner_reference(self) -> OwnerReference:
        """An owner reference pointing at this (stored) resource."""
        if not self.metadata.uid:
            raise ValueError(f"{self.kind} {self.name!r} has no uid yet; store it first")
        return OwnerReference(kind=self.kind, name=self.name, uid=self.metadata.uid)
