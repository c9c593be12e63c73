"""Issue 15 item 8: a script step's outcome is journaled, and replay never re-reads logs.

A finished job's journal entry keeps the end of its log (64 KiB and one byte, what a step's
``result`` may hold), so replaying the pipeline after a gate reads ``steps.X.result`` and
``outputs: json`` from the journal: with the jobs' directories removed in between (as a TTL or
a cleaned-up node would), `kontinue resume` still ends with the same result, and no job is
run again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: replayed}
steps:
  - name: build
    script: {image: alpine:3.20, command: 'echo built >> runs; echo "version 1.2.3"'}
  - name: facts
    script:
      image: alpine:3.20
      outputs: json
      command: 'echo "{\\"replicas\\": 3}"'
  - name: big
    script:
      image: alpine:3.20
      command: 'head -c 200000 /dev/zero | tr "\\\\0" x; echo; echo last line'
  - name: approve
    suspend: {}
result:
  build: "{{ steps.build.result }}"
  replicas: "{{ steps.facts.outputs.replicas }}"
  bigTail: "{{ steps.big.result[-9:] }}"
  bigCut: "{{ steps.big.resultTruncated }}"
"""


def test_resume_after_the_jobs_are_gone_reads_outcomes_from_the_journal(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    first = cli("submit", "p.yaml", "--name", "r")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "waiting for approval" in first.stdout + first.stderr

    jobs = state_dir / "jobs"
    assert any(jobs.rglob("*.log"))
    shutil.rmtree(jobs)  # every job and its logs: what replay may still read must be journaled

    resumed = cli("resume", "r", "approve")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    store = open_store(state_dir)
    try:
        ex = store.get(Execution, "default", "r")
        assert ex.status.phase == "Completed", ex.status.message
        assert ex.status.result == {
            "build": "version 1.2.3",
            "replicas": 3,
            "bigTail": "last line",
            "bigCut": True,
        }
        entries = store.read_journal("default", "r")
        jobs_journaled = [e for e in entries if e.get("kind") == "script"]
        assert len(jobs_journaled) == 3
        sizes = [len(json.dumps(e)) for e in jobs_journaled]
        assert max(sizes) < 70_000, sizes  # the 200 KB log is kept only to its last 64 KiB
    finally:
        store.close()
    assert (tmp_path / "runs").read_text() == "built\n"  # no script ran twice
