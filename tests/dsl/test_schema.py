"""The pipeline JSON Schema: shipped in the package, valid, and documented for editors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from kontinue.dsl import pipeline_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_packaged_schema_is_the_published_one() -> None:
    packaged = resources.files("kontinue.dsl").joinpath("pipeline.schema.json").read_bytes()
    published = (ROOT / "schemas" / "pipeline.schema.json").read_bytes()
    assert packaged == published, "copy schemas/pipeline.schema.json to kontinue/dsl/"
    assert pipeline_schema() == json.loads(published)


def test_it_is_a_valid_2020_12_schema() -> None:
    schema = pipeline_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _properties(schema: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Yield (path, schema) of every property schema, walking only through schema places."""
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _properties(sub, f"{path}.{name}")
    for name, sub in schema.get("$defs", {}).items():
        yield from _properties(sub, f"{path}$defs.{name}")
    for key in ("items", "additionalProperties"):
        yield from _properties(schema.get(key), f"{path}.{key}")


def test_every_property_has_a_description() -> None:
    found = list(_properties(pipeline_schema(), ""))
    assert len(found) > 30
    assert [path for path, sub in found if "description" not in sub] == []


def test_objects_refuse_unknown_keys() -> None:
    schema = pipeline_schema()
    assert schema["additionalProperties"] is False
    step = schema["$defs"]["step"]
    assert step["additionalProperties"] is False
    for kind in ("retry", "timeout", "script", "suspend", "poll"):
        sub = step["properties"][kind]
        if "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
        assert sub["additionalProperties"] is False


def test_steps_have_exactly_one_kind() -> None:
    validator = Draft202012Validator(pipeline_schema())
    base = {"apiVersion": "kontinue.cloud/v1alpha1", "kind": "Pipeline", "metadata": {"name": "x"}}
    for step, ok in [
        ({"sleep": "5s"}, True),
        ({"suspend": None}, True),
        ({"call": "f", "with": [1, "{{ params.x }}"]}, True),
        ({"name": "x"}, False),
        ({"sleep": "5s", "suspend": None}, False),
        ({"sleep": "5s", "with": {}}, False),
    ]:
        assert validator.is_valid({**base, "steps": [step]}) is ok, step
