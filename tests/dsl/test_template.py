"""Templating: native types, strict undefined names, the sandbox, conditions and references."""

from __future__ import annotations

from typing import Any

import pytest

from kontinue.dsl import TemplateError, condition, references, render, render_text

CONTEXT: dict[str, Any] = {
    "params": {"service": "api", "replicas": 2, "debug": False, "tags": ["a", "b"]},
    "steps": {
        "build": {"result": {"image": "api:1.2", "size": 3}, "exitCode": 0, "phase": "Completed"},
        "lint": {"result": None, "exitCode": 1, "phase": "Failed"},
    },
    "execution": {"name": "release-x7k2p", "namespace": "default", "labels": {"team": "a"}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ params.replicas }}", 2),
        ("  {{ params.replicas }}\n", 2),
        ("{{ params.replicas * 2 }}", 4),
        ("{{ params.debug }}", False),
        ("{{ params.tags }}", ["a", "b"]),
        ("{{ steps.build.result }}", {"image": "api:1.2", "size": 3}),
        ("{{ steps.lint.result }}", None),
        ("{{ params.replicas > 1 }}", True),
        ("{{ params.service | upper }}", "API"),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ params['service'] }}", "api"),
        ("{{ steps['build'].exitCode }}", 0),
        ("{{ execution.labels.team }}", "a"),
    ],
)
def test_a_single_expression_keeps_its_type(template: str, expected: Any) -> None:
    assert render(template, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("replicas={{ params.replicas }}", "replicas=2"),
        ("{{ params.service }}-{{ params.replicas }}", "api-2"),
        ("debug={{ params.debug }}", "debug=false"),
        ("image={{ steps.build.result }}", 'image={"image": "api:1.2", "size": 3}'),
        ("none={{ steps.lint.result }}", "none=null"),
        ("{% for t in params.tags %}[{{ t }}]{% endfor %}", "[a][b]"),
        ("no templates at all: ${HOME}", "no templates at all: ${HOME}"),
        ("line one\n{{ params.service }}\n", "line one\napi\n"),
    ],
)
def test_other_strings_render_to_text(template: str, expected: str) -> None:
    assert render(template, CONTEXT) == expected


def test_render_walks_a_json_tree_and_leaves_keys_alone() -> None:
    tree = {
        "{{ params.service }}": ["{{ params.replicas }}", 7, None, True],
        "nested": {"image": "{{ steps.build.result.image }}", "text": "x {{ 1 + 1 }}"},
    }
    assert render(tree, CONTEXT) == {
        "{{ params.service }}": [2, 7, None, True],
        "nested": {"image": "api:1.2", "text": "x 2"},
    }


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ params.sevice }}", "'params.sevice' is undefined; known params: service, replicas"),
        ("deploy {{ params.sevice }}", "'params.sevice' is undefined"),
        ("{{ steps.biuld.result }}", "'steps.biuld' is undefined; known steps: build, lint"),
        ("{{ steps.build.reslt }}", "'steps.build.reslt' is undefined; known keys of steps.build"),
        ("{{ parms.service }}", "'parms' is undefined; templates can use params, steps"),
        ("{{ params.missing.deeper }}", "'params.missing' is undefined"),
        ("{{ params.service.nope }}", "has no attribute or key 'nope'"),
    ],
)
def test_an_undefined_name_is_an_error_naming_it(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT)
    assert message in caught.value.message
    assert caught.value.template == template


def test_defined_tests_and_defaults_still_work() -> None:
    assert render("{{ params.nope is defined }}", CONTEXT) is False
    assert render("{{ params.nope | default(3) }}", CONTEXT) == 3


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ''.__class__ }}", "may not read the attribute '__class__'"),
        ("x {{ ''.__class__.__mro__ }}", "may not read the attribute '__class__'"),
        ("{{ cycler.__init__.__globals__ }}", "may not read the attribute '__init__'"),
        ("{{ lipsum.__globals__ }}", "may not read the attribute '__globals__'"),
        ("{{ self._TemplateReference__context }}", "'_TemplateReference__context'"),
        ("{{ params['__class__'] }}", "may not read the attribute '__class__'"),
        ("{{ params | attr('__class__') }}", "may not read the attribute '__class__'"),
        ("{{ range(10**9) }}", "too large for a template"),
        ("{{ 'a' * 10**9 }}", "too many for a template"),
        ("{{ [1] * 10**9 }}", "too many for a template"),
        ("{{ 10 ** 100000 }}", "too large to compute"),
        ("{{ params.tags.append(3) }}", "values in templates are read-only"),
        ("{{ params.update({'a': 1}) }}", "values in templates are read-only"),
    ],
)
def test_the_sandbox_refuses_escapes(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT)
    assert message in caught.value.message
    assert CONTEXT["params"]["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ params.replicas > }}", "template syntax error"),
        ("{% if params.debug %}unterminated", "template syntax error"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ params.items() | map('x') }}", "filter"),
    ],
)
def test_syntax_and_evaluation_errors_are_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, CONTEXT)
    assert message in caught.value.message


def test_a_syntax_error_knows_its_line_inside_the_template() -> None:
    with pytest.raises(TemplateError) as caught:
        render("first\nsecond\n{{ oops( }}", CONTEXT)
    assert caught.value.lineno == 3


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("{{ params.replicas > 0 }}", True),
        ("{{ params.replicas > 5 }}", False),
        ("params.replicas > 0", True),
        ("steps.lint.exitCode != 0", True),
        ("{{ params.debug }}", False),
        ("{{ params.tags }}", True),
        ("{{ steps.lint.result }}", False),
        ("{{ 'yes' }}", True),
        ("{{ 'False' }}", False),
        (True, True),
        (False, False),
    ],
)
def test_conditions(when: str | bool, expected: bool) -> None:
    assert condition(when, CONTEXT) is expected


def test_a_condition_must_be_one_expression_and_a_boolean() -> None:
    with pytest.raises(TemplateError, match="one expression"):
        condition("replicas: {{ params.replicas }}", CONTEXT)
    with pytest.raises(TemplateError, match="neither true nor false"):
        condition("{{ params.service }}", CONTEXT)
    with pytest.raises(TemplateError, match=r"'params\.nope' is undefined"):
        condition("params.nope", CONTEXT)


def test_references_finds_steps_and_params_statically() -> None:
    template = (
        "{{ steps.build.result }} {{ params['service'] }} {{ steps['lint'].exitCode }}"
        "{% if params.debug %}{{ steps[dynamic] }}{% endif %}{{ execution.name }}"
    )
    assert references(template) == {
        ("steps", "build"),
        ("steps", "lint"),
        ("params", "service"),
        ("params", "debug"),
    }
    assert references("no templates") == set()
    with pytest.raises(TemplateError):
        references("{{ broken ")


def test_render_text_always_gives_text() -> None:
    assert render_text("{{ params.replicas }}", CONTEXT) == "2"
    assert render_text("{{ params.debug }}", CONTEXT) == "false"
    assert render_text("{{ steps.build.result }}", CONTEXT) == '{"image": "api:1.2", "size": 3}'
    assert render_text("{{ steps.lint.result }}", CONTEXT) == "null"
    assert render_text("plain", CONTEXT) == "plain"
    assert render_text("{{ params.service }}", CONTEXT) == "api"


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"name": "a", "script": {"command": "echo {{ params.x }}"}}, set()),
        (
            {
                "name": "a",
                "when": "steps.gate.inputs.go",  # a condition may be written without braces
                "script": {"command": "echo {{ steps.build.result }}", "env": {"X": "plain"}},
            },
            {"gate", "build"},
        ),
        (
            {
                "name": "seq",
                "sequence": {
                    "steps": [
                        {"name": "one", "script": {"command": "echo {{ steps['lint'].phase }}"}},
                        {"name": "two", "job": {"spec": {"x": ["{{ steps.one.result }}"]}}},
                    ]
                },
            },
            {"lint", "one"},
        ),
        # an embedded pipeline's templates read its own steps, not ours
        (
            {
                "name": "c",
                "call": {
                    "pipeline": {"steps": [{"script": {"command": "{{ steps.inner.result }}"}}]},
                    "with": {"v": "{{ steps.outer.result }}"},
                },
            },
            {"outer"},
        ),
        # dynamic reads: any step may be read
        ({"name": "a", "script": {"command": "{{ steps[params.which].result }}"}}, None),
        ({"name": "a", "script": {"command": "{{ steps | length }}"}}, None),
        ({"name": "a", "script": {"command": "{% for s in steps %}{{ s }}{% endfor %}"}}, None),
        ({"name": "a", "script": {"command": "{{ steps. }}"}}, None),  # does not parse
    ],
)
def test_steps_read_finds_the_steps_a_node_reads(node: dict[str, Any], expected: Any) -> None:
    from kontinue.dsl._template import steps_read

    assert steps_read(node) == expected
