"""`parse_selector`: Kubernetes label selector strings and mappings, parsed and matched."""

from __future__ import annotations

import pytest

from kontinue.store import Requirement, Selector, parse_selector


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app=web", [Requirement("app", "=", ("web",))]),
        ("app==web", [Requirement("app", "=", ("web",))]),
        ("app!=web", [Requirement("app", "!=", ("web",))]),
        ("app=", [Requirement("app", "=", ("",))]),
        ("env in (prod, staging)", [Requirement("env", "in", ("prod", "staging"))]),
        ("env notin (dev)", [Requirement("env", "notin", ("dev",))]),
        ("legacy", [Requirement("legacy", "exists")]),
        ("!legacy", [Requirement("legacy", "!exists")]),
        (
            "kontinue.cloud/parent=run-1.a_b",
            [Requirement("kontinue.cloud/parent", "=", ("run-1.a_b",))],
        ),
        (
            " app = web , tier!=db,env in(a,b) , !x ",
            [
                Requirement("app", "=", ("web",)),
                Requirement("tier", "!=", ("db",)),
                Requirement("env", "in", ("a", "b")),
                Requirement("x", "!exists"),
            ],
        ),
        ("in=notin", [Requirement("in", "=", ("notin",))]),
        ("", []),
        ("   ", []),
    ],
)
def test_parse_selector_string(text: str, expected: list[Requirement]) -> None:
    assert parse_selector(text) == Selector(tuple(expected))


def test_parse_selector_mapping_none_and_selector() -> None:
    assert parse_selector({"app": "web", "tier": "db"}) == Selector(
        (Requirement("app", "=", ("web",)), Requirement("tier", "=", ("db",)))
    )
    assert parse_selector(None) == Selector()
    selector = Selector((Requirement("a", "exists"),))
    assert parse_selector(selector) is selector


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("=web", "'=' is not a valid label key"),
        (",", "',' is not a valid label key"),
        ("app,", "it ends where a label key was expected"),
        ("app,,tier", "',' is not a valid label key"),
        ("app=web tier=db", "expected ',' between clauses, found 'tier'"),
        ("app web", "found 'web'"),
        ("app=web=x", "expected ',' between clauses, found '='"),
        ("app=(", "'(' is not a valid label value"),
        ("env in prod", "expected '(' after 'in'"),
        ("env in ()", "')' is not a valid label value"),
        ("env in (a b)", "expected ',' or ')' in the values of 'env', found 'b'"),
        ("env in (a,", "it ends where a label value was expected"),
        ("env notin (a", "it ends where ')' was expected"),
        ("!", "it ends where a label key was expected"),
        ("!app=web", "'!app' tests that the label is absent and takes no operator"),
        ("app@web", "the character '@' at position 3 is not allowed"),
        ("app=web;rm", "the character ';'"),
        ("-app=web", "'-app' is not a valid label key"),
        ("a/b/c=d", "'a/b/c' is not a valid label key"),
        ("app=a/b", "'a/b' is not a valid label value"),
        ("app=web-", "'web-' is not a valid label value"),
    ],
)
def test_malformed_selector_raises_value_error_naming_the_problem(text: str, names: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_selector(text)

    message = str(caught.value)
    assert message.startswith(f"label selector {text!r} is malformed: ")
    assert names in message


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "api"}, False),
        ("app=web", {}, False),
        ("app!=web", {"app": "api"}, True),
        ("app!=web", {}, True),  # as in Kubernetes: a missing label is "not web"
        ("app!=web", {"app": "web"}, False),
        ("env in (a,b)", {"env": "b"}, True),
        ("env in (a,b)", {}, False),
        ("env notin (a,b)", {"env": "c"}, True),
        ("env notin (a,b)", {}, True),
        ("env notin (a,b)", {"env": "a"}, False),
        ("env", {"env": ""}, True),
        ("env", {}, False),
        ("!env", {}, True),
        ("!env", {"env": ""}, False),
        ("env=", {"env": ""}, True),
        ("env=", {}, False),
        ("app=web,!legacy", {"app": "web"}, True),
        ("app=web,!legacy", {"app": "web", "legacy": "1"}, False),
        ("", {"anything": "x"}, True),
    ],
)
def test_selector_matches_label_sets(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


def test_equalities_are_the_exact_match_clauses() -> None:
    selector = parse_selector("app=web,tier!=db,env in (a),zone==eu,x")

    assert selector.equalities() == {"app": "web", "zone": "eu"}
