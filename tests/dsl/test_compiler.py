"""Compiling: default names, run-order rules, embedded pipeline calls, normalization."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kontinue.dsl import Diagnostic, PipelineError, compile_pipeline, validate_file

HEAD = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: NAME}
"""


def write(path: Path, body: str, name: str = "demo") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEAD.replace("NAME", name) + textwrap.dedent(body), encoding="utf-8")
    return path


def messages(path: Path) -> list[str]:
    return [d.message for d in validate_file(path)]


def test_unnamed_steps_get_positional_default_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """\
        steps:
          - sleep: 1s
          - name: group
            parallel:
              - sleep: 2s
              - sequence:
                  - sleep: 3s
          - sequence:
              - sleep: 4s
        """,
    )
    plan = compile_pipeline(path)
    first, group, third = plan.steps
    assert first["name"] == "step-1"
    assert group["name"] == "group"
    branches = group["parallel"]["branches"]
    assert [b["name"] for b in branches] == ["group-1", "group-2"]
    assert branches[1]["sequence"]["steps"][0]["name"] == "group-2-1"
    assert third["name"] == "step-3"
    assert third["sequence"]["steps"][0]["name"] == "step-3-1"


def test_later_steps_may_read_earlier_and_nested_steps(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """\
        params:
          properties:
            who: {type: string, default: me}
        steps:
          - name: tests
            parallel:
              - name: unit
                script: {image: alpine, command: echo unit}
              - sequence:
                  - name: first
                    script: {image: alpine, command: echo one}
                  - name: second
                    script: {image: alpine, command: "echo {{ steps.first.exitCode }}"}
          - name: report
            when: steps.unit.exitCode == 0 and steps.tests.phase == 'Completed'
            script:
              image: alpine
              command: echo {{ steps.second.result }} {{ params.who }} {{ execution.name }}
        result: "{{ steps.report.exitCode }}"
        """,
    )
    assert validate_file(path) == []


def test_durations_retry_and_timeouts_are_normalized(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """\
        steps:
          - name: wait
            sleep: 90s
            retry: {backoff: 1m30s}
            timeout: {overall: 1.5h}
          - name: later
            sleep: 1h30m
            when: false
        """,
    )
    wait, later = compile_pipeline(path).steps
    assert wait["sleep"] == {"duration": "1m30s"}
    assert wait["retry"] == {"retries": 0, "backoff": "1m30s", "childPolicy": "None"}
    assert wait["timeout"] == {"attempt": None, "overall": "1h30m0s"}
    assert later["sleep"] == {"duration": "1h30m0s"}
    assert later["when"] == "{{ false }}"


def test_script_defaults_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            apiVersion: kontinue.cloud/v1alpha1
            kind: Pipeline
            metadata: {name: labelled, labels: {team: a}}
            steps:
              - script:
                  image: alpine
                  command: echo $X
                  shell: [/bin/bash, -ec]
                  env: {X: "1"}
                  workingDir: /tmp
            """
        ),
        encoding="utf-8",
    )
    plan = compile_pipeline(path)
    assert plan["labels"] == {"team": "a"}
    assert plan["params"] == {"type": "object", "properties": {}}
    assert plan["description"] is None and plan["result"] is None
    assert plan.steps[0]["script"] == {
        "image": "alpine",
        "command": "echo $X",
        "shell": ["/bin/bash", "-ec"],
        "env": {"X": "1"},
        "workingDir": "/tmp",
        "outputs": None,
    }


def test_a_called_pipeline_is_compiled_and_embedded(tmp_path: Path) -> None:
    write(
        tmp_path / "lib" / "deploy.yaml",
        """\
        params:
          properties:
            service: {type: string}
          required: [service]
        imports: [helpers.py]
        steps:
          - name: run
            script: {image: alpine, command: "echo {{ params.service }}"}
        result: "{{ steps.run.exitCode }}"
        """,
        name="deploy",
    )
    (tmp_path / "lib" / "helpers.py").write_text("", encoding="utf-8")
    main = write(
        tmp_path / "main.yaml",
        """\
        steps:
          - name: a
            call: lib/deploy.yaml
            with: {service: a}
          - name: b
            call: ./lib/../lib/deploy.yaml
            with: {service: "{{ steps.a.result }}"}
        """,
    )
    plan = compile_pipeline(main)
    first, second = plan.steps
    embedded = first["call"]["pipeline"]
    assert embedded["name"] == "deploy"
    assert embedded["source"] == "lib/deploy.yaml"
    assert embedded["imports"] == ["helpers.py"]
    assert embedded["steps"][0]["script"]["command"] == "echo {{ params.service }}"
    assert first["call"]["with"] == {"service": "a"}
    assert second["call"]["pipeline"] == embedded
    assert second["call"]["pipeline"] is not embedded
    assert str(tmp_path) not in plan.to_json()

    (tmp_path / "lib" / "deploy.yaml").write_text("edited later", encoding="utf-8")
    assert plan.steps[0]["call"]["pipeline"]["name"] == "deploy"


def test_problems_in_a_called_pipeline_are_reported_with_its_file(tmp_path: Path) -> None:
    write(tmp_path / "sub.yaml", "steps:\n  - sleep: soon\n", name="sub")
    main = write(tmp_path / "main.yaml", "steps:\n  - name: go\n    call: sub.yaml\n")
    found = validate_file(main)
    assert [(Path(d.file).name, d.line) for d in found] == [("main.yaml", 6), ("sub.yaml", 5)]
    assert "step 'go' calls pipeline 'sub.yaml', which has problems" in found[0].message
    assert "'soon' is not a duration" in found[1].message


def test_module_imports_are_not_looked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "imports: [mypkg.steps]\nsteps:\n  - call: greet\n")
    assert compile_pipeline(path)["imports"] == ["mypkg.steps"]
    bad = write(tmp_path / "q.yaml", "imports: [my-pkg]\nsteps:\n  - call: greet\n")
    assert messages(bad) == ["import 'my-pkg' is neither a .py file nor a Python module name"]


def test_compiling_is_deterministic(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "steps:\n  - sleep: 1s\n  - call: greet\n")
    assert compile_pipeline(path).to_json() == compile_pipeline(path).to_json()


def test_pipeline_error_lists_every_diagnostic(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "steps:\n  - sleep: 1x\n  - sleep: 2y\n")
    with pytest.raises(PipelineError) as caught:
        compile_pipeline(path)
    assert [d.line for d in caught.value.diagnostics] == [5, 6]
    assert str(caught.value).startswith("the pipeline has 2 problems:\n")


def test_diagnostic_text_is_one_line_with_the_hint() -> None:
    diagnostic = Diagnostic("p.yaml", 3, 5, "unknown key 'scirpt'\n in step 'b'", "did you mean?")
    assert str(diagnostic) == "p.yaml:3:5: unknown key 'scirpt' in step 'b'; did you mean?"
    assert str(Diagnostic("p.yaml", 1, 1, "empty")) == "p.yaml:1:1: empty"
