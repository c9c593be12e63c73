"""run_script, run_pod and run_job on the local runner: real processes, real logs."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kontinue.api import Execution
from kontinue.runners import LocalRunner
from kontinue.runtime import start_execution
from kontinue.store import open_store
from kontinue.testing import Environment
from tests.conftest import CLI, start_kontinue, stop, wait_for
from tests.jobs import fns_jobs

FNS = str(Path(fns_jobs.__file__))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path, runners={"local": LocalRunner(tmp_path)}) as environment:
        yield environment


def _run(env: Environment, function: str, args: dict[str, Any], **opts: Any) -> Execution:
    ex = env.start(function, args, **opts)
    return env.run(ex.metadata.name, skip_time=False, timeout=60)


def test_script_succeeds(env: Environment) -> None:
    ex = _run(env, "script", {"command": "echo hello from $WHO", "env": {"WHO": "kontinue"}})
    assert ex.status.phase == "Completed", ex.status.error
    result = ex.status.result
    assert result["succeeded"] and result["exitCode"] == 0 and result["phase"] == "Succeeded"
    assert result["logs"] == "hello from kontinue\n"
    assert "not pulled" in result["message"]


def test_script_fails_with_exit_code_3_and_stderr(env: Environment) -> None:
    ex = _run(
        env,
        "script",
        {"command": "echo starting; echo 'Error: database is locked' >&2; echo cleanup; exit 3"},
    )
    result = ex.status.result
    assert ex.status.phase == "Completed"  # a failed script is a result, not an exception
    assert result["succeeded"] is False and result["exitCode"] == 3 and result["phase"] == "Failed"
    assert "Error: database is locked" in result["logs"]
    assert "Error: database is locked" in result["summary"]


def test_run_pod_with_kubernetes_models(env: Environment) -> None:
    ex = _run(env, "pod", {"command": "echo $GREETING from a pod"})
    assert ex.status.result == {
        "succeeded": True,
        "logs": "hi from a pod\n",
        "pod": ["V1Pod", "Pod", "Succeeded", "main"],
        "exit": 0,
        "job-name": True,
    }


def test_run_job_backoff_limit_retries_failed_pods(env: Environment, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    command = f"echo x >> {counter}; test $(wc -l < {counter}) -ge 3"
    ex = _run(env, "job", {"command": command, "backoffLimit": 2})
    result = ex.status.result
    assert result["failedPods"] == 2 and result["succeededPods"] == 1
    # as in the Go SDK: Succeeded() is `SucceededPods > 0 && FailedPods == 0`
    assert result["succeeded"] is False
    assert len(result["pods"]) == 3


def test_job_deadline_kills_the_process(env: Environment) -> None:
    ex = _run(env, "job", {"command": "sleep 30", "deadline": 1})
    result = ex.status.result
    assert result["succeeded"] is False
    assert "deadline" in result["message"].lower()


def test_journal_keeps_the_job_record(env: Environment) -> None:
    ex = _run(env, "script", {"command": "echo recorded"})
    entries = [e for e in env.journal(ex.metadata.name) if e["kind"] == "script"]
    assert len(entries) == 1
    assert entries[0]["name"] == "run"
    assert entries[0]["job"]["phase"] == "Succeeded"
    assert entries[0]["job"]["pods"][0]["containers"][0]["image"] == "alpine:3.20"


def _pids_running(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_cancel_kills_a_running_script(env: Environment) -> None:
    marker = f"sleep 31.{os.getpid()}"
    ex = env.start("script", {"command": f"{marker.replace('sleep ', 'sleep ')}"})
    name = ex.metadata.name
    env.engine.run_until(lambda: env.get(name).status.phase == "Suspended", timeout=30)
    deadline = time.monotonic() + 10
    while not _pids_running(marker):
        assert time.monotonic() < deadline, "script never started"
        time.sleep(0.05)
    env.cancel(name)
    env.engine.run_until(lambda: not _pids_running(marker), timeout=30)
    assert env.get(name).status.phase == "Canceled"
    assert _pids_running(marker) == []


@pytest.mark.slow
def test_worker_killed_while_script_runs_does_not_start_it_twice(
    state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "started"
    store = open_store(state_dir)
    ex = start_execution(
        store, "script", {"command": f"echo started >> {marks}; sleep 2; echo done"}
    )
    name = ex.metadata.name

    worker = ("worker", "--with-controller", "--import", FNS, "--lease-duration", "1s")
    first = start_kontinue(state_dir, *worker)
    try:
        wait_for(marks.exists, 30, "the script to start")
    finally:
        stop(first, signal.SIGKILL)
    second = start_kontinue(state_dir, *worker)
    try:
        wait_for(lambda: store.get(Execution, "default", name).terminal, what="the end")
    finally:
        stop(second)
    final = store.get(Execution, "default", name)
    assert final.status.phase == "Completed", final.status.error
    assert final.status.result["logs"] == "done\n"
    assert marks.read_text() == "started\n"


FAILING = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: failing}
steps:
  - name: check
    script:
      image: alpine:3.20
      command: |
        echo "checking"
        echo "FATAL: config file missing" >&2
        exit 3
"""


def test_pipeline_script_step_failure_names_step_and_exit_code(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    result = cli("submit", str(path), "--name", "f")
    assert result.returncode == 1
    assert 'script step "check" failed with exit code 3' in result.stderr
    assert "FATAL: config file missing" in result.stderr
    logs = cli("logs", "f", "check")
    assert logs.stdout == "checking\nFATAL: config file missing\n"
    assert "Traceback" not in result.stderr


SLOW_PRINTER = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: printer}
steps:
  - name: count
    script:
      image: alpine:3.20
      command: for i in 1 2 3 4 5; do echo "line $i"; sleep 0.2; done
"""


@pytest.mark.slow
def test_logs_follow_prints_lines_as_they_come(cli: CLI, state_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "printer.yaml"
    path.write_text(SLOW_PRINTER)
    assert cli("submit", str(path), "--name", "p", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker", "--with-controller")
    try:
        store = open_store(state_dir)
        deadline = time.monotonic() + 30
        while (store.get(Execution, "default", "p").status.waiting_on or None) is None:
            assert time.monotonic() < deadline, "the script step never started"
            time.sleep(0.05)
        followed = cli("logs", "p", "count", "-f", timeout=60)
        assert followed.returncode == 0, followed.stderr
        assert followed.stdout.splitlines() == [f"line {i}" for i in range(1, 6)]
        tail = cli("logs", "p", "count", "--tail", "2")
        assert tail.stdout.splitlines() == ["line 4", "line 5"]
        unknown = cli("logs", "p", "nope")
        assert unknown.returncode == 2 and "steps with logs: count" in unknown.stderr
    finally:
        stop(worker)


TIMED = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: timed}
steps:
  - name: slow
    script: {image: alpine:3.20, command: "sleep 3%d"}
    timeout: {attempt: 1s}
"""


def test_pipeline_script_step_times_out(cli: CLI, tmp_path: Path) -> None:
    marker = f"sleep 3{os.getpid() % 10}"
    path = tmp_path / "timed.yaml"
    path.write_text(TIMED % (os.getpid() % 10))
    result = cli("submit", str(path), "--name", "t")
    assert result.returncode == 1, result.stderr
    assert "Execution t failed" in result.stderr
    assert "timeout" in result.stderr.lower() or "deadline" in result.stderr.lower()
    child = cli("get", "t-slow", "-o", "json")
    assert '"phase": "Failed"' in child.stdout
    assert not [p for p in _pids_running(marker) if p != os.getpid()]


CANCELED = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: canceled}
steps:
  - name: forever
    script: {image: alpine:3.20, command: "sleep 47.%d"}
"""


@pytest.mark.slow
def test_pipeline_script_step_is_killed_by_cancel(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marker = f"sleep 47.{os.getpid()}"
    path = tmp_path / "canceled.yaml"
    path.write_text(CANCELED % os.getpid())
    assert cli("submit", str(path), "--name", "c", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker", "--with-controller")
    try:
        deadline = time.monotonic() + 30
        while not _pids_running(marker):
            assert time.monotonic() < deadline, "the script never started"
            time.sleep(0.05)
        canceled = cli("cancel", "c")
        assert canceled.returncode == 0, canceled.stderr
        deadline = time.monotonic() + 30
        while _pids_running(marker):
            assert time.monotonic() < deadline, "the script outlived its canceled Execution"
            time.sleep(0.05)
        assert '"phase": "Canceled"' in cli("get", "c", "-o", "json").stdout
    finally:
        stop(worker)
