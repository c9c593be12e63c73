"""The new step kinds and keys, run from the CLI on the embedded store: typed outputs feeding a
loop, DAG order and failure, pod/job steps, polls that give up, and outputs that stay bounded
when a script prints 50 MB."""

from __future__ import annotations

import json
from pathlib import Path

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI

HEAD = "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: %s}\n"


def _write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD % name + body)
    return str(path)


LOOP = """\
steps:
  - name: list
    script:
      image: alpine:3.20
      command: |
        echo '[{"name": "eu-west-1", "size": 2}, {"name": "us-east-1", "size": 3},'
        echo '{"name": "eu-west-1", "size": 1}]'
      outputs: json
  - name: shard
    forEach: "{{ steps.list.outputs }}"
    as: shard
    maxParallel: 1
    script:
      image: alpine:3.20
      command: echo "{{ shard.size * 10 }}"
      outputs: json
result:
  names: "{{ steps.shard | map(attribute='name') | list }}"
  sizes: "{{ steps.shard | map(attribute='outputs') | list }}"
  total: "{{ steps.shard | map(attribute='outputs') | sum }}"
"""


def test_typed_outputs_feed_a_loop_in_input_order(cli: CLI, tmp_path: Path) -> None:
    result = cli("submit", _write(tmp_path, "loop", LOOP), "--name", "lp")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "names": ["shard-eu-west-1", "shard-us-east-1", "shard-eu-west-1-2"],
        "sizes": [20, 30, 10],
        "total": 60,
    }
    tree = cli("tree", "lp").stdout
    for child in ("lp-shard-eu-west-1 ", "lp-shard-us-east-1 ", "lp-shard-eu-west-1-2 "):
        assert child in tree


DAG = """\
steps:
  - name: checks
    parallel:
      - name: build
        script: {image: alpine:3.20, command: echo built}
      - name: test
        needs: [build]
        script: {image: alpine:3.20, command: 'echo "testing {{ steps.build.result }}"'}
      - name: flaky
        needs: [test]
        script: {image: alpine:3.20, command: 'echo broken >&2; exit 3'}
      - name: ship
        needs: [flaky]
        script: {image: alpine:3.20, command: echo shipped}
finally:
  - name: report
    script:
      image: alpine:3.20
      command: >-
        echo "{{ pipeline.phase }} {{ pipeline.error.step }}
        {{ steps.test.phase }} {{ steps.ship.phase }}"
"""


def test_needs_in_a_parallel_block_order_steps_and_a_failure_skips_dependents(
    cli: CLI, tmp_path: Path
) -> None:
    result = cli("submit", _write(tmp_path, "dag", DAG), "--name", "dg")
    assert result.returncode == 1, result.stderr
    assert 'child Execution "dg-flaky"' in result.stderr and "exit code 3" in result.stderr
    assert cli("logs", "dg", "test").stdout.strip() == "testing built"
    assert cli("logs", "dg", "report").stdout.strip() == "Failed flaky Succeeded Skipped"
    assert "dg-flaky" in cli("tree", "dg").stdout
    assert "dg-ship" not in cli("tree", "dg").stdout


KINDS = """\
params: {type: object, properties: {word: {type: string, default: pods}}}
steps:
  - name: check
    pod:
      containers:
        - name: main
          image: alpine:3.20
          command: [sh, -c, 'echo "$WORD run"']
          env: [{name: WORD, value: "{{ params.word }}"}]
  - name: batch
    job:
      backoffLimit: 1
      template:
        spec:
          containers:
            - {name: main, image: alpine:3.20, command: [sh, -c, 'echo attempt; exit 1']}
"""


def test_pod_and_job_steps_run_their_containers(cli: CLI, tmp_path: Path) -> None:
    result = cli("submit", _write(tmp_path, "kinds", KINDS), "--name", "kd")
    assert result.returncode == 1
    assert 'job step "batch" failed (2 failed pods)' in result.stderr, result.stderr
    assert cli("logs", "kd", "check").stdout.strip() == "pods run"


POLL = """\
steps:
  - name: wait
    poll:
      script: {command: 'test -f "$MARKER"', env: {MARKER: "%s"}}
      interval: 1s
      timeout: 2s
"""


def test_a_poll_that_never_succeeds_gives_up_after_its_timeout(cli: CLI, tmp_path: Path) -> None:
    result = cli("submit", _write(tmp_path, "poll", POLL % (tmp_path / "never")), "--name", "pl")
    assert result.returncode == 1
    assert 'poll step "wait" gave up: not ready 2s after its first try' in result.stderr


def test_a_poll_succeeds_once_its_check_does(cli: CLI, tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    marker.write_text("")
    result = cli("submit", _write(tmp_path, "poll", POLL % marker), "--name", "ok")
    assert result.returncode == 0, result.stderr


BIG = """\
steps:
  - name: noisy
    script:
      image: alpine:3.20
      command: head -c 50000000 /dev/zero | tr '\\0' x; echo; echo last line
  - name: binary
    script: {image: alpine:3.20, command: head -c 1000000 /dev/zero}
  - name: after
    parallel:
      - name: reader
        script: {image: alpine:3.20, command: 'echo "{{ steps.noisy.resultTruncated }}"'}
result:
  size: "{{ steps.noisy.result | length }}"
  truncated: "{{ steps.noisy.resultTruncated }}"
  tail: "{{ steps.noisy.result[-9:] }}"
  binary: "{{ steps.binary.result | length }}"
"""

CAP = 64 * 1024


def test_a_script_printing_50_mb_stays_bounded(cli: CLI, tmp_path: Path, state_dir: Path) -> None:
    result = cli("submit", _write(tmp_path, "big", BIG), "--name", "big", timeout=300)
    assert result.returncode == 0, result.stderr
    # the last 64 KiB as stored JSON (quotes and escaped newlines count), NUL bytes dropped
    got = json.loads(result.stdout)
    assert CAP - 8 < got.pop("size") < CAP
    assert got == {"truncated": True, "tail": "last line", "binary": 0}
    store = open_store(state_dir)
    root = store.get(Execution, "default", "big")
    child = store.get(Execution, "default", "big-reader")
    sizes = {
        "execution": len(json.dumps(root.wire())),
        "journal": len(json.dumps(store.read_journal("default", "big"))),
        "child arguments": len(json.dumps(child.spec.arguments)),
    }
    print("sizes with a 50 MB script:", sizes)  # figures for the note (pytest -s)
    for what, size in sizes.items():
        assert size < 3 * CAP, f"{what} holds {size} bytes"
    assert cli("logs", "big", "noisy", "--tail", "1").stdout.strip() == "last line"


FAN = """\
steps:
  - name: noisy
    script:
      image: alpine:3.20
      command: head -c 50000000 /dev/zero | tr '\\0' x; echo; echo last line
  - name: each
    forEach: "{{ range(100) | list }}"
    as: n
    sleep: 0s
  - name: after
    parallel:
      - name: reader
        script: {image: alpine:3.20, command: 'echo "{{ steps.noisy.resultTruncated }}"'}
      - name: counter
        script: {image: alpine:3.20, command: 'echo "{{ steps | length }}"'}
"""


def test_children_carry_only_the_outcomes_they_read(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    """A 50 MB script then 100 loop children: each child gets only the outcomes its templates
    read, not every earlier step's (capped) output; one that reads `steps` dynamically gets all."""
    result = cli("submit", _write(tmp_path, "fan", FAN), "--name", "fan", timeout=600)
    assert result.returncode == 0, result.stderr
    store = open_store(state_dir)
    children = {
        ex.metadata.name: ex
        for ex in store.list(Execution, "default", {"kontinue.cloud/parent": "fan"})
    }
    loop = [ex for name, ex in children.items() if name.startswith("fan-each-")]
    assert len(loop) == 100
    sizes = [len(json.dumps(ex.spec.arguments)) for ex in loop]
    reader = children["fan-reader"].spec.arguments
    counter = children["fan-counter"].spec.arguments
    print(  # figures for the note (pytest -s)
        "child arguments after a 50 MB step: 100 loop children",
        sum(sizes),
        "bytes in all, largest",
        max(sizes),
        "| reader",
        len(json.dumps(reader)),
        "| counter",
        len(json.dumps(counter)),
    )
    assert all(ex.spec.arguments["steps"] == {} for ex in loop)
    assert max(sizes) < 4096
    assert set(reader["steps"]) == {"noisy"}  # it reads steps.noisy
    assert set(counter["steps"]) == {"noisy", "each"}  # `steps | length`: it may read any
    assert cli("logs", "fan", "counter").stdout.strip() == "2"


GATE = """\
steps:
  - name: approve
    suspend:
      inputs:
        type: object
        properties:
          approve: {type: boolean}
          shards: {type: array, items: {type: integer}, default: [1, 2]}
        required: [approve]
  - name: ship
    when: "{{ steps.approve.inputs.approve }}"
    forEach: "{{ steps.approve.inputs.shards }}"
    as: shard
    sequence:
      - name: push
        script: {image: alpine:3.20, command: 'echo "push {{ shard }}"'}
      - name: verify
        script: {image: alpine:3.20, command: 'echo "verify {{ steps.push.result }}"'}
result:
  shipped: "{{ steps.ship | map(attribute='phase') | list }}"
  verified: >-
    {{ steps.ship | map(attribute='steps') | map(attribute='verify')
    | map(attribute='result') | list }}
"""


def test_approval_inputs_from_a_file_drive_when_and_a_loop_over_a_sequence(
    cli: CLI, tmp_path: Path
) -> None:
    path = _write(tmp_path, "gate", GATE)
    assert cli("submit", path, "--name", "yes").returncode == 0
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("approve: true\nshards: [3, 4]\n")
    result = cli("resume", "yes", "approve", "--inputs-file", str(inputs))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "shipped": ["Completed", "Completed"],
        "verified": ["verify push 3", "verify push 4"],
    }

    assert cli("submit", path, "--name", "no").returncode == 0
    unknown = cli("resume", "no", "approve", "--input", "approve=false", "--input", "shard=1")
    assert unknown.returncode == 2 and "unknown input 'shard'" in unknown.stderr
    result = cli("resume", "no", "approve", "--input", "approve=false")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"shipped": [], "verified": []}
    assert "no-ship" not in cli("tree", "no").stdout
