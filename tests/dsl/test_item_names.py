"""Loop items get readable, deterministic, valid child names."""

from __future__ import annotations

from kontinue.dsl._fanout import item_names
from kontinue.dsl._steps import is_valid_name


def test_strings_and_numbers_name_themselves() -> None:
    assert item_names("deploy", ["eu-west-1", "US East", 3, 2.5]) == [
        "deploy-eu-west-1",
        "deploy-us-east",
        "deploy-3",
        "deploy-2-5",
    ]


def test_mappings_use_their_name_or_position_and_repeats_are_numbered() -> None:
    items = [{"name": "db"}, {"id": "cache"}, {"size": 3}, {"name": "db"}, "db"]
    assert item_names("shard", items) == [
        "shard-db",
        "shard-cache",
        "shard-3",
        "shard-db-2",
        "shard-db-3",
    ]


def test_long_names_stay_valid_unique_and_stable() -> None:
    items = ["x" * 80 + "a", "x" * 80 + "b"]
    names = item_names("a-rather-long-step-name", items)
    assert len(set(names)) == 2
    assert all(is_valid_name(name) for name in names)
    assert names == item_names("a-rather-long-step-name", items)
