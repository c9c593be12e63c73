"""Converting step results to JSON for the journal, and back to the type the caller asked for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

__all__ = ["from_json", "to_json"]

_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def to_json(value: Any) -> Any:
    """The JSON-plain form of a value (pydantic models, dataclasses, datetimes included)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return _ANY.dump_python(value, mode="json")


def from_json(value: Any, result_type: Any = None) -> Any:
    """The value as the caller asked for it: validated into `result_type`, or plain JSON."""
    if result_type is None or value is None:
        return value
    adapter = _ADAPTERS.get(result_type)
    if adapter is None:
        adapter = _ADAPTERS[result_type] = TypeAdapter(result_type)
    return adapter.validate_python(value)
