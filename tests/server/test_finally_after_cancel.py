"""`finally:` after a cancel from any client: the CLI, the HTTP API of a real `kontinue server`,
and a parent's cascade. Each time the finally steps run once, in the canceled Execution itself,
seeing `pipeline.phase` Canceled and the outcomes of the main steps that finished, while the
pipeline's own phase stays Canceled; a second cancel stops a running finally step's script."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx

from kontinue.api import Execution
from kontinue.runners import LocalRunner
from kontinue.store import open_store
from tests.conftest import CLI, wait_for
from tests.server.conftest import StartServer

HEAD = "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: %s}\n"

REPORT = """\
finally:
  - name: report
    script:
      image: alpine:3.20
      command: >-
        echo "{{ pipeline.phase }} by {{ pipeline.reason }}: build={{ steps.build.result }}
        exit={{ steps.build.exitCode }} left={{ steps | length }}"
"""

GATED = (
    """\
steps:
  - name: build
    script: {image: alpine:3.20, command: echo built-ok}
  - name: gate
    suspend: {}
  - name: never
    script: {image: alpine:3.20, command: echo never}
"""
    + REPORT
)

RUNNING = (
    """\
steps:
  - name: build
    script: {image: alpine:3.20, command: echo built-ok}
  - name: work
    script: {image: alpine:3.20, command: sleep 300}
"""
    + REPORT
)


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD % name + body)
    return path


def _journal(state_dir: Path, name: str) -> list[dict[str, Any]]:
    return open_store(state_dir).read_journal("default", name)


def _ran_once(state_dir: Path, name: str, step: str) -> None:
    entries = [e for e in _journal(state_dir, name) if e["name"] == step]
    assert len(entries) == 1, entries  # one job, journaled once
    assert not any(
        e.metadata.name.startswith(f"{name}-finally")
        for e in open_store(state_dir).list(Execution, "default")
    )  # no side Execution: the finally steps ran in the canceled one


def test_cli_cancel_runs_finally_in_the_canceled_pipeline(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    path = _write(tmp_path, "gated", GATED)
    assert cli("submit", str(path), "--name", "g").returncode == 0  # parked at the gate
    canceled = cli("cancel", "g")
    assert canceled.returncode == 0, canceled.stderr
    assert "g runs its finally steps" in canceled.stderr
    assert cli("logs", "g", "report").stdout.strip() == (
        "Canceled by canceled by request: build=built-ok exit=0 left=1"
    )  # only build finished: the gate was open, "never" never ran
    got = json.loads(cli("get", "g", "-o", "json").stdout)
    assert got["status"]["phase"] == "Canceled"
    assert got["status"]["cancelRequested"]["reason"] == "canceled by request"
    _ran_once(state_dir, "g", "report")
    assert "g-never" not in cli("tree", "g").stdout
    again = cli("cancel", "g")
    assert again.returncode == 2 and "already Canceled" in again.stderr


def _phase(c: httpx.Client, name: str) -> str:
    return str(c.get(f"/api/v1/executions/{name}").json()["phase"])


def test_a_cancel_over_the_http_api_runs_finally_and_stops_the_running_script(
    start_server: StartServer, tmp_path: Path, state_dir: Path
) -> None:
    server = start_server("--auth-mode", "readwrite")
    text = HEAD % "running" + RUNNING
    with server.client() as c:
        made = c.post(
            "/api/v1/executions",
            json={"pipeline": {"content": text, "filename": "running.yaml"}, "name": "r"},
        )
        assert made.status_code == 201, made.text
        store = open_store(state_dir)

        jobs: list[str] = []

        def working() -> bool:
            waiting = store.get(Execution, "default", "r").status.waiting_on
            if waiting is not None and waiting.step == "work":
                jobs.extend(waiting.names)
            return bool(jobs)

        wait_for(working, what="the running script step")
        answer = c.post("/api/v1/executions/r/cancel", json={})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"canceled": ["r"], "cleaningUp": True}
        wait_for(lambda: _phase(c, "r") == "Canceled", what="the finally steps")
    # the cancel is delivered where `work` was (its job stopped, so never recorded), then
    # the finally step runs and is journaled after it
    assert [e["name"] for e in _journal(state_dir, "r")] == ["build", "cancel", "report"]
    _ran_once(state_dir, "r", "report")
    record = LocalRunner(state_dir).poll(jobs[0], "default")
    assert record is not None and record.phase != "Running"
    ex = store.get(Execution, "default", "r")
    assert ex.status.message == "canceled by request"


def test_a_parents_cancel_runs_a_called_pipelines_finally(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    _write(tmp_path, "gated", GATED)
    parent = _write(
        tmp_path,
        "parent",
        "steps:\n  - name: child\n    call: gated.yaml\n",
    )
    assert cli("submit", str(parent), "--name", "p").returncode == 0  # the child's gate
    canceled = cli("cancel", "p")
    assert canceled.returncode == 0, canceled.stderr
    store = open_store(state_dir)
    assert store.get(Execution, "default", "p").status.phase == "Canceled"
    child = store.get(Execution, "default", "p-child")
    assert child.status.phase == "Canceled"
    assert cli("logs", "p-child", "report").stdout.strip() == (
        "Canceled by canceled because its parent p was canceled: build=built-ok exit=0 left=1"
    )
    _ran_once(state_dir, "p-child", "report")


def test_a_second_cancel_stops_a_running_finally_step(
    cli: CLI, tmp_path: Path, state_dir: Path, start_server: StartServer
) -> None:
    pidfile = tmp_path / "cleanup.pid"
    body = (
        "steps:\n  - name: gate\n    suspend: {}\nfinally:\n  - name: cleanup\n    script:\n"
        f"      image: alpine:3.20\n      command: sleep 300 & echo $! > {pidfile}; wait\n"
    )
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        made = c.post(
            "/api/v1/executions",
            json={"pipeline": {"content": HEAD % "slow" + body, "filename": "s.yaml"}, "name": "s"},
        )
        assert made.status_code == 201, made.text
        wait_for(lambda: _phase(c, "s") == "Suspended", what="the gate")
        assert c.post("/api/v1/executions/s/cancel", json={}).json()["cleaningUp"] is True
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the cleanup")
        pid = int(pidfile.read_text())
        assert _phase(c, "s") != "Canceled"  # the first cancel lets the finally step run
        second = c.post("/api/v1/executions/s/cancel", json={}).json()
        assert second["cleaningUp"] is False
        assert _phase(c, "s") == "Canceled"

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        wait_for(gone, what="the finally step's script to be killed")
