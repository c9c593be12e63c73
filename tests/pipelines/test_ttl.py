"""`defaults.ttl` and a step's `ttl:`: how long what each step leaves behind is kept after it
finished — the Job (and logs) of script, pod and job steps, the child Execution of branches,
loop items and calls — removed for real by a running worker's controller, once the pipeline
has finished (until then a step may still read them)."""

from __future__ import annotations

import json
from pathlib import Path

from kontinue.api import Execution
from kontinue.runners import LocalRunner
from kontinue.store import NotFoundError, open_store
from tests.conftest import CLI, start_kontinue, stop, wait_for

PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: kept}
defaults: {ttl: 1s}
steps:
  - name: quick
    script: {image: alpine:3.20, command: echo quick}
  - name: slow
    ttl: 1h
    script: {image: alpine:3.20, command: echo slow}
  - name: fan
    parallel:
      - name: branch
        script: {image: alpine:3.20, command: echo branch}
      - name: long
        ttl: 1h
        script: {image: alpine:3.20, command: echo long}
  - name: each
    forEach: [a, b]
    pod:
      containers: [{name: main, image: alpine:3.20, command: [echo, "{{ item }}"]}]
  - name: job
    job:
      template:
        spec:
          containers: [{name: main, image: alpine:3.20, command: [echo, job]}]
"""


def _exists(store_dir: Path, name: str) -> bool:
    try:
        open_store(store_dir).get(Execution, "default", name)
    except NotFoundError:
        return False
    return True


def test_ttl_removes_jobs_and_child_executions_after_they_finished(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    path = tmp_path / "kept.yaml"
    path.write_text(PIPELINE)
    plan = json.loads(cli("submit", str(path), "--dry-run", "-o", "json").stdout)
    steps = {s["name"]: s for s in plan["steps"]}
    assert steps["quick"]["ttl"] == "1s" and steps["slow"]["ttl"] == "1h0m0s"
    assert (
        steps["job"]["ttl"] == "1s" and steps["fan"]["parallel"]["branches"][1]["ttl"] == "1h0m0s"
    )
    assert cli("submit", str(path), "--name", "k").returncode == 0
    store = open_store(state_dir)
    jobs = {e["name"]: e["job"]["name"] for e in store.read_journal("default", "k") if "job" in e}
    branch = store.get(Execution, "default", "k-branch")
    assert branch.spec.ttl is not None and branch.spec.ttl.delete_after.total_seconds() == 1
    items = [e for e in store.list(Execution, "default", {"kontinue.cloud/parent": "k"})]
    assert {e.metadata.name for e in items} >= {"k-branch", "k-long", "k-each-a", "k-each-b"}
    runner = LocalRunner(state_dir)
    for step, job in jobs.items():
        record = runner.poll(job, "default")
        assert record is not None
        assert record.labels["kontinue.cloud/ttl-seconds"] == ("3600" if step == "slow" else "1")

    worker = start_kontinue(state_dir, "worker")  # its controller removes what is due
    try:
        wait_for(
            lambda: not _exists(state_dir, "k-branch") and not _exists(state_dir, "k-each-a"),
            what="the 1s children to be deleted",
        )
        wait_for(
            lambda: (
                runner.poll(jobs["quick"], "default") is None
                and runner.poll(jobs["job"], "default") is None
            ),
            what="the 1s jobs to be removed",
        )
    finally:
        stop(worker)
    assert _exists(state_dir, "k")  # the pipeline itself has no TTL
    assert _exists(state_dir, "k-long")  # its own ttl: 1h
    assert runner.poll(jobs["slow"], "default") is not None
    assert cli("logs", "k", "slow").stdout.strip() == "slow"
