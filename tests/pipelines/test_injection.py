"""Values never become shell code: hostile params and step outputs arrive as literal text.

Every payload goes in through the real CLI (`kontinue submit -p` / `--params-file`), runs as a
real script process, and must come out byte for byte in every quoting context a pipeline author
may put a template in: bare, double quotes, single quotes, a here-document, `env:`, and from a
step's output into a later step. A canary file proves nothing ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CLI, ROOT

PAYLOADS = [
    "$(id -un)@$(hostname)",
    "$(touch CANARY)",
    "`touch CANARY`",
    "; touch CANARY",
    "&& touch CANARY &",
    "| touch CANARY",
    "a\ntouch CANARY\nb",
    "' ; touch CANARY ; '",
    '" ; touch CANARY ; "',
    "'\"'\"'$(touch CANARY)",
    "${IFS}touch${IFS}CANARY",
    "$HOME $(HOME) $$ $1 $@ *",
    "--help",
    "-n -e \\n",
    "héllo wörld ✓ 日本語 🚀",
    "EOF\ntouch CANARY\nEOF",
    "}} {{ params.canary }} {% raw %}",
    "\\$(touch CANARY)\\",
    "  spaced   out  ",
    "",
]

COMMAND = """\
printf '%s' {{ params.v }} > bare.out
printf '%s' "{{ params.v }}" > double.out
printf '%s' '{{ params.v }}' > single.out
printf '%s' "$V" > env.out
printf '%s' "prefix:{{ params.v }}:suffix" > mixed.out
cat > heredoc.out <<EOF
{{ params.v }}
EOF
printf '%s' "{{ params.v }}"
"""

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: hostile}
params:
  type: object
  properties:
    v: {type: string}
    dir: {type: string}
    canary: {type: string, default: CANARY}
  required: [v, dir]
steps:
  - name: contexts
    script:
      image: alpine:3.20
      workingDir: "%(dir)s"
      env:
        V: "{{ params.v }}"
      command: |
%(command)s
  - name: from-output
    script:
      image: alpine:3.20
      workingDir: "%(dir)s"
      command: printf '%%s' "{{ steps.contexts.result }}" > output.out
"""


def _pipeline(tmp: Path, case: Path) -> Path:
    command = "".join(f"        {line}\n" for line in COMMAND.splitlines())
    path = tmp / "hostile.yaml"
    path.write_text(PIPELINE % {"dir": case, "command": command.rstrip("\n")})
    return path


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_each_payload_arrives_literally_in_every_context(
    cli: CLI, tmp_path: Path, payload: str
) -> None:
    case = tmp_path / "case"
    case.mkdir()
    pipeline = _pipeline(tmp_path, case)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"v": payload, "dir": str(case)}))
    result = cli("submit", str(pipeline), "--params-file", str(params))
    assert result.returncode == 0, result.stderr
    assert not (case / "CANARY").exists(), "a value ran as shell code"
    assert sorted(p.name for p in case.iterdir()) == sorted(
        f"{n}.out" for n in ("bare", "double", "single", "env", "mixed", "heredoc", "output")
    )
    for name in ("bare", "double", "single", "env"):
        assert (case / f"{name}.out").read_text() == payload, name
    assert (case / "output.out").read_text() == payload.strip()  # a step's result is stripped
    assert (case / "mixed.out").read_text() == f"prefix:{payload}:suffix"
    assert (case / "heredoc.out").read_text() == payload + "\n"


def test_the_issue_example_through_dash_p(cli: CLI) -> None:
    """`kontinue submit pipelines/hello.yaml -p 'name=$(id -un)@$(hostname)'` greets the text."""
    payload = "$(id -un)@$(hostname)"
    result = cli(
        "submit", str(ROOT / "pipelines/hello.yaml"), "-p", f"name={payload}", "--name", "h"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["greeted"] == payload
    logs = cli("logs", "h", "greet")
    assert logs.returncode == 0, logs.stderr
    assert f"hello, {payload}" in logs.stdout


def test_raw_opts_out_for_the_authors_own_text(cli: CLI, tmp_path: Path) -> None:
    pipeline = tmp_path / "raw.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: raw}\n"
        "params:\n  type: object\n  properties:\n    words: {type: string, default: 'a b'}\n"
        "steps:\n  - name: s\n    script:\n      image: alpine:3.20\n"
        "      command: printf '%s|' {{ params.words | raw }}; printf '%s|' {{ params.words }}\n"
    )
    result = cli("submit", str(pipeline), "--name", "r")
    assert result.returncode == 0, result.stderr
    # `| raw` inserted shell text (two words); the plain value stayed one word
    assert cli("logs", "r", "s").stdout.rstrip("\n") == "a|b|a b|"


def test_a_value_in_an_arithmetic_expansion_must_be_a_number(cli: CLI, tmp_path: Path) -> None:
    pipeline = tmp_path / "arith.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: arith}\n"
        "params:\n  type: object\n  properties:\n    n: {type: string}\n"
        "steps:\n  - name: s\n    script:\n      image: alpine:3.20\n"
        "      command: echo $(( {{ params.n }} + 1 ))\n"
    )
    ok = cli("submit", str(pipeline), "-p", "n='41'", "--name", "ok")
    assert ok.returncode == 0, ok.stderr
    assert cli("logs", "ok", "s").stdout.strip() == "42"
    bad = cli("submit", str(pipeline), "-p", "n=a[$(touch CANARY)]", "--name", "bad")
    assert bad.returncode == 1
    assert "arithmetic expansion" in bad.stderr and "only a number" in bad.stderr
    assert not (tmp_path / "CANARY").exists()


def test_a_non_shell_interpreter_gets_values_only_through_env(cli: CLI, tmp_path: Path) -> None:
    pipeline = tmp_path / "py.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: py}\n"
        "params:\n  type: object\n  properties:\n    v: {type: string}\n"
        "steps:\n  - name: inline\n    script:\n      image: python:3.12\n"
        "      shell: [python3, -c]\n      command: print('{{ params.v }}')\n"
    )
    bad = cli("submit", str(pipeline), "-p", "v=x'); import os; print('pwned", "--name", "p")
    assert bad.returncode == 1
    assert "values cannot be inserted safely into a program for 'python3'" in bad.stderr
    assert "env:" in bad.stderr


KUBE_PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: hostile-kube}
params:
  type: object
  properties:
    v: {type: string}
    dir: {type: string}
  required: [v, dir]
steps:
  - name: as-job
    job:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: c
              image: alpine:3.20
              workingDir: "{{ params.dir }}"
              command:
                - sh
                - -c
                - printf "%s" {{ params.v }} > job.out; printf "%s" "$1" > arg.out
                - sh
              args: ["{{ params.v }}"]
              env:
                - {name: V, value: "{{ params.v }}"}
  - name: as-pod
    pod:
      restartPolicy: Never
      containers:
        - name: c
          image: alpine:3.20
          workingDir: "{{ params.dir }}"
          command: [/bin/sh, -ec]
          args: ['printf "%s" "$V" > pod-env.out; printf "%s" {{ params.v }} > pod.out']
          env:
            - {name: V, value: "{{ params.v }}"}
"""


@pytest.mark.parametrize(
    "payload", ["$(touch CANARY)", "`touch CANARY`; '\"\n$(HOME) $$", "héllo -- --help"]
)
def test_job_and_pod_steps_keep_values_literal(cli: CLI, tmp_path: Path, payload: str) -> None:
    case = tmp_path / "case"
    case.mkdir()
    pipeline = tmp_path / "kube.yaml"
    pipeline.write_text(KUBE_PIPELINE)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"v": payload, "dir": str(case)}))
    result = cli("submit", str(pipeline), "--params-file", str(params))
    assert result.returncode == 0, result.stderr
    assert not (case / "CANARY").exists(), "a value ran as shell code"
    for name in ("job", "arg", "pod", "pod-env"):
        assert (case / f"{name}.out").read_text() == payload, name
