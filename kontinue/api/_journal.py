"""Journal entries: one typed model per step kind, a union discriminated by `kind`.

The stored form is unchanged from the free dicts journals held before: camelCase keys
(`displayName`, `resolvedBy`), no key whose value is null, values as recorded. `wire()`
gives that form and `parse_journal` reads it back; an entry of a kind this version does not
know (written by a newer one) is kept whole as an `OtherEntry`, and fields unknown here are
kept too, so a journal read and written again loses nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError

__all__ = [
    "ENTRY_KINDS",
    "CancelEntry",
    "JobEntry",
    "JournalEntry",
    "OtherEntry",
    "PollEntry",
    "SpawnEntry",
    "StepEntry",
    "StoreEntry",
    "SuspensionEntry",
    "WaitEntry",
    "new_entry",
    "parse_journal",
    "parse_journal_json",
]


class StepEntry(BaseModel):
    """What every journal entry holds: its position, step name, kind, time and attempt."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    seq: int
    """Position in the raw journal (0, 1, ...); a retried step's new entry gets a new one."""
    name: str
    """The step's deterministic name (`store-1`, `cool-down`, `wait/<child>`)."""
    kind: str
    time: str | None = None
    """When it was recorded (ISO 8601, the runtime clock)."""
    attempt: int | None = None
    """The Execution's attempt that recorded it (0 for the first; absent: 0)."""
    display_name: str | None = Field(default=None, alias="displayName")
    description: str | None = None
    replaces: int | None = None
    """The `seq` of the failed entry of an earlier attempt this one takes the place of."""

    @property
    def is_failure(self) -> bool:
        """Whether the step's outcome is a failure a later attempt runs again."""
        return False

    @property
    def error_message(self) -> str | None:
        """The message of the error the step raised, if it raised one."""
        error = getattr(self, "error", None)
        if error is None:
            return None
        return str(error.get("message", "")) if isinstance(error, dict) else str(error)

    def wire(self) -> dict[str, Any]:
        """The stored form: camelCase keys, null values left out."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def wire_json(self) -> str:
        """The stored form as compact JSON text (the bytes the embedded store keeps)."""
        return json.dumps(self.wire(), separators=(",", ":"))


class StoreEntry(StepEntry):
    """`store`: the value `fn` returned, or the error it raised."""

    kind: Literal["store"] = "store"
    result: Any = None
    error: Any = None
    """The error as `error_to_record` wrote it (kind, message, retryable, causes)."""

    @property
    def is_failure(self) -> bool:
        return self.error is not None


class SpawnEntry(StepEntry):
    """`spawn`: a child Execution was created under this name."""

    kind: Literal["spawn"] = "spawn"
    child: str
    function: str | None = None


class WaitEntry(StepEntry):
    """`wait` (one child of a fan-out) or `wait-any` (the first of several): its outcome."""

    kind: Literal["wait", "wait-any"] = "wait"
    child: str
    result: Any = None
    error: Any = None
    skipped: bool | None = None
    """A person skipped the child: the parent goes on without a result."""

    @property
    def is_failure(self) -> bool:
        return self.error is not None


class SuspensionEntry(StepEntry):
    """`sleep` or `suspend`: how its Suspension was resolved."""

    kind: Literal["sleep", "suspend"] = "sleep"
    suspension: str | None = None
    resolved_by: str | None = Field(default=None, alias="resolvedBy")
    resolved_at: str | None = Field(default=None, alias="resolvedAt")
    inputs: dict[str, Any] | None = None


class PollEntry(StepEntry):
    """`poll`: the condition held."""

    kind: Literal["poll"] = "poll"


class JobEntry(StepEntry):
    """`job`, `pod` or `script`: the finished job as the runner reported it."""

    kind: Literal["job", "pod", "script"] = "job"
    job: dict[str, Any]
    """The runner's `JobRecord` in its JSON form."""
    job_failed: bool | None = Field(default=None, alias="failed")
    logs: dict[str, str] | None = None
    """The end of the last pod's container logs (by container name, at most 64 KiB + 1 byte
    each), read once when the job finished: replay answers from them, never from the runner."""

    @property
    def is_failure(self) -> bool:
        return bool(self.job_failed)


class CancelEntry(StepEntry):
    """Where a requested cancel was delivered to the function (`onCancel: Cleanup`)."""

    kind: Literal["cancel"] = "cancel"
    reason: str | None = None


class OtherEntry(StepEntry):
    """An entry of a kind this version does not know, kept whole."""

    @property
    def is_failure(self) -> bool:
        extra = self.model_extra or {}
        return extra.get("error") is not None or bool(extra.get("failed"))


_TAGS: dict[str, str] = {
    "store": "store",
    "spawn": "spawn",
    "wait": "wait",
    "wait-any": "wait",
    "sleep": "suspension",
    "suspend": "suspension",
    "poll": "poll",
    "job": "job",
    "pod": "job",
    "script": "job",
    "cancel": "cancel",
}

ENTRY_KINDS: tuple[str, ...] = tuple(_TAGS)
"""The step kinds this version records."""


def _tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return _TAGS.get(kind, "other") if isinstance(kind, str) else "other"


JournalEntry = Annotated[
    Annotated[StoreEntry, Tag("store")]
    | Annotated[SpawnEntry, Tag("spawn")]
    | Annotated[WaitEntry, Tag("wait")]
    | Annotated[SuspensionEntry, Tag("suspension")]
    | Annotated[PollEntry, Tag("poll")]
    | Annotated[JobEntry, Tag("job")]
    | Annotated[CancelEntry, Tag("cancel")]
    | Annotated[OtherEntry, Tag("other")],
    Discriminator(_tag),
]
"""One journal entry, typed by its `kind`."""

KnownEntry = Annotated[
    StoreEntry | SpawnEntry | WaitEntry | SuspensionEntry | PollEntry | JobEntry | CancelEntry,
    Field(discriminator="kind"),
]
"""An entry of a kind this version records (a discriminated union pydantic-core validates
without calling back into Python: the fast path of a replay)."""

_ENTRY: TypeAdapter[JournalEntry] = TypeAdapter(JournalEntry)
_JOURNAL: TypeAdapter[list[JournalEntry]] = TypeAdapter(list[JournalEntry])
_KNOWN: TypeAdapter[list[KnownEntry]] = TypeAdapter(list[KnownEntry])


def parse_journal(raw: list[dict[str, Any]]) -> list[JournalEntry]:
    """Typed entries from the stored form (a list of JSON objects)."""
    try:
        return cast(list[JournalEntry], _KNOWN.validate_python(raw))
    except ValidationError:  # a kind this version does not know: kept as OtherEntry
        return _JOURNAL.validate_python(raw)


def parse_journal_json(text: str | bytes) -> list[JournalEntry]:
    """Typed entries from the stored form as one JSON array (one parse, no dicts between)."""
    try:
        return cast(list[JournalEntry], _KNOWN.validate_json(text))
    except ValidationError:
        return _JOURNAL.validate_json(text)


def new_entry(fields: dict[str, Any]) -> JournalEntry:
    """A typed entry from its fields (stored or Python names); the kind picks the model."""
    return _ENTRY.validate_python(fields)
