"""Where a script command's values land: env references quoted for their place, never code."""

from __future__ import annotations

import pytest

from kontinue.dsl import TemplateError
from kontinue.dsl._shell import render_script

CTX = {"params": {"v": "$(id)'\"", "n": 3}, "steps": {}, "execution": {}}
SH = ["/bin/sh", "-c"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("echo {{ params.v }}", 'echo "${KONTINUE_VALUE_1}"'),
        ('echo "a {{ params.v }} b"', 'echo "a ${KONTINUE_VALUE_1} b"'),
        ("echo 'a {{ params.v }}'", "echo 'a '\"${KONTINUE_VALUE_1}\"''"),
        ("echo $(echo {{ params.v }})", 'echo $(echo "${KONTINUE_VALUE_1}")'),
        ('echo "$(echo {{ params.v }})"', 'echo "$(echo "${KONTINUE_VALUE_1}")"'),
        ("echo ${X:-{{ params.v }}}", 'echo ${X:-"${KONTINUE_VALUE_1}"}'),
        ("echo $(( {{ params.n }} * 2 ))", "echo $(( 3 * 2 ))"),
        ("echo \\'{{ params.v }}", 'echo \\\'"${KONTINUE_VALUE_1}"'),
        (
            "# it's {{ params.v }}\necho {{ params.v }}",
            '# it\'s <value>\necho "${KONTINUE_VALUE_1}"',
        ),
        (
            "cat <<-EOF\n\tit's {{ params.v }}\n\tEOF\necho {{ params.n }}",
            'cat <<-EOF\n\tit\'s ${KONTINUE_VALUE_1}\n\tEOF\necho "${KONTINUE_VALUE_2}"',
        ),
        ("echo {{ params.v }} {{ params.v }}", 'echo "${KONTINUE_VALUE_1}" "${KONTINUE_VALUE_1}"'),
    ],
)
def test_each_value_becomes_a_quoted_variable_reference(command: str, expected: str) -> None:
    rendered, env = render_script(command, CTX, SH)
    assert rendered == expected
    assert "$(id)" not in rendered
    # `$$` is Kubernetes' own escape of its $(VAR) syntax; both runners undo it
    assert set(env.values()) <= {"$$(id)'\"", "3"}


def test_a_command_without_templates_is_untouched() -> None:
    assert render_script("echo $(date) 'x'", CTX, SH) == ("echo $(date) 'x'", {})


@pytest.mark.parametrize(
    ("command", "shell", "message"),
    [
        ("cat <<'EOF'\n{{ params.v }}\nEOF", SH, "quoted here-document"),
        ("echo $(( {{ params.v }} ))", SH, "only a number may stand"),
        ("print({{ params.v }})", ["python3", "-c"], "pass them in env:"),
    ],
)
def test_places_a_value_cannot_be_kept_literal_are_refused(
    command: str, shell: list[str], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        render_script(command, CTX, shell)


def test_a_containers_shell_script_gets_references_and_its_other_words_literal_text() -> None:
    from kontinue.dsl._shell import render_container

    container = {
        "name": "c",
        "image": "alpine:3.20",
        "command": ["/bin/sh", "-ec"],
        "args": ["echo {{ params.v }}", "{{ params.v }}"],
        "env": [{"name": "V", "value": "{{ params.v }}"}],
    }
    out = render_container(container, CTX)
    assert out["command"] == ["/bin/sh", "-ec"]
    assert out["args"] == ['echo "${KONTINUE_VALUE_1}"', "$$(id)'\""]
    assert out["env"] == [
        {"name": "V", "value": "$$(id)'\""},
        {"name": "KONTINUE_VALUE_1", "value": "$$(id)'\""},
    ]
    plain = render_container({"name": "c", "command": ["printf", "%s", "{{ params.v }}"]}, CTX)
    assert plain["command"] == ["printf", "%s", "$$(id)'\""]


def test_the_kubernetes_job_carries_the_value_only_in_env() -> None:
    from kontinue.dsl._shell import render_script
    from kontinue.runners import JobRequest, OwnerRef, job_spec_from_pod_spec, script_pod_spec
    from kontinue.runners._manifest import build_job_manifest

    command, env = render_script('echo "hi {{ params.v }}"', CTX, SH)
    spec = job_spec_from_pod_spec(script_pod_spec("alpine:3.20", command, env=env), 0)
    job = build_job_manifest(
        JobRequest(name="x-s", namespace="default", spec=spec, step="s", owner=OwnerRef("x", "u"))
    )
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c", 'echo "hi ${KONTINUE_VALUE_1}"']
    assert container["env"] == [{"name": "KONTINUE_VALUE_1", "value": "$$(id)'\""}]
