"""A poll step's script command gets params as values, never as shell text (issue 8 rule)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import CLI

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: wait-ready}
params:
  type: object
  properties: {state: {type: string}}
  required: [state]
steps:
  - name: ready
    poll:
      interval: 1s
      timeout: 2s
      script:
        command: 'test "{{ params.state }}" = ready && test {{ params.state }} = ready'
"""


@pytest.mark.parametrize(
    "payload",
    ["$(touch CANARY)ready", "ready; touch CANARY", "`touch CANARY`", "ready\ntouch CANARY"],
)
def test_a_hostile_param_in_a_poll_command_stays_text(
    cli: CLI, tmp_path: Path, payload: str
) -> None:
    pipeline = tmp_path / "wait.yaml"
    pipeline.write_text(PIPELINE)
    params = tmp_path / "params.json"
    import json

    params.write_text(json.dumps({"state": payload}))
    result = cli("submit", str(pipeline), "--params-file", str(params), cwd=tmp_path)
    assert result.returncode != 0  # never ready: the text is not "ready"
    assert "gave up" in result.stderr + result.stdout
    assert not (tmp_path / "CANARY").exists()


def test_a_poll_command_sees_the_value_itself(cli: CLI, tmp_path: Path) -> None:
    pipeline = tmp_path / "wait.yaml"
    pipeline.write_text(PIPELINE)
    result = cli("submit", str(pipeline), "-p", "state=ready", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
