"""Submit-time arguments: `-p key=value` parsing and validation against params with defaults."""

from __future__ import annotations

from typing import Any

import pytest

from kontinue.dsl import ArgumentsError, parse_param_assignments, validate_arguments

PLAN: dict[str, Any] = {
    "params": {
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "replicas": {"type": "integer", "default": 2, "minimum": 1},
            "env": {"enum": ["dev", "prod"], "default": "dev"},
            "options": {
                "type": "object",
                "properties": {"verbose": {"type": "boolean", "default": False}},
                "default": {},
            },
        },
        "required": ["service"],
    }
}


def test_defaults_are_applied_including_nested_ones() -> None:
    assert validate_arguments(PLAN, {"service": "api"}) == {
        "service": "api",
        "replicas": 2,
        "env": "dev",
        "options": {"verbose": False},
    }


def test_given_values_win_and_the_input_is_not_changed() -> None:
    args = {"service": "api", "replicas": 5, "options": {"verbose": True}}
    result = validate_arguments(PLAN, args)
    assert result["replicas"] == 5 and result["options"] == {"verbose": True}
    assert args == {"service": "api", "replicas": 5, "options": {"verbose": True}}


def test_every_problem_is_listed() -> None:
    with pytest.raises(ArgumentsError) as caught:
        validate_arguments(PLAN, {"replicas": "two", "env": "staging", "replicsa": 3})
    assert caught.value.problems == [
        "unknown param 'replicsa'; did you mean 'replicas'? declared params: service, "
        "replicas, env, options",
        "param 'service' is required",
        "param 'env' must be one of 'dev', 'prod', got 'staging'",
        "param 'replicas' must be an integer, got 'two'",
    ]
    assert "param 'service' is required" in str(caught.value)


def test_bounds_and_nested_types() -> None:
    with pytest.raises(ArgumentsError) as caught:
        validate_arguments(PLAN, {"service": "a", "replicas": 0, "options": {"verbose": "y"}})
    assert caught.value.problems == [
        "param 'options.verbose' must be true or false, got 'y'",
        "param 'replicas' must be at least 1, got 0",
    ]


def test_params_without_properties_accept_anything() -> None:
    assert validate_arguments({"params": {"type": "object"}}, {"x": 1}) == {"x": 1}


def test_a_pipeline_without_params_refuses_arguments() -> None:
    plan = {"params": {"type": "object", "properties": {}}}
    assert validate_arguments(plan, {}) == {}
    with pytest.raises(ArgumentsError, match="unknown param 'x'; it declares no params"):
        validate_arguments(plan, {"x": 1})


def test_explicit_additional_properties_are_respected() -> None:
    plan = {"params": {"properties": {"a": {"type": "string"}}, "additionalProperties": True}}
    assert validate_arguments(plan, {"a": "x", "b": 2}) == {"a": "x", "b": 2}


@pytest.mark.parametrize(
    ("assignment", "value"),
    [
        ("replicas=3", 3),
        ("x=true", True),
        ("x=false", False),
        ("s=hello", "hello"),
        ("s=hello world", "hello world"),
        ("ratio=0.5", 0.5),
        ("empty=", ""),
        ("nothing=null", None),
        ("quoted='3'", "3"),
        ("tags=[a, 1]", ["a", 1]),
        ("map={a: 1}", {"a": 1}),
        ("text=a: b", "a: b"),
        ("url=https://x.example/a?b=c", "https://x.example/a?b=c"),
        ("day=2024-01-31", "2024-01-31"),
        ("yes=yes", "yes"),
    ],
)
def test_param_assignments_are_yaml_scalars(assignment: str, value: Any) -> None:
    key = assignment.partition("=")[0]
    assert parse_param_assignments([assignment]) == {key: value}


def test_later_assignments_win() -> None:
    assert parse_param_assignments(["a=1", "b=2", "a=3"]) == {"a": 3, "b": 2}


def test_malformed_assignments_are_all_reported() -> None:
    with pytest.raises(ArgumentsError) as caught:
        parse_param_assignments(["replicas", "=3", "ok=1", "bad=[1,"])
    assert caught.value.problems == [
        "'replicas' must be written as key=value, e.g. replicas=3",
        "'=3' must be written as key=value, e.g. replicas=3",
        "the value of param 'bad' is not valid YAML: '[1,'",
    ]
