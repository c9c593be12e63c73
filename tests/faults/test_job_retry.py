"""Issue 9 item 1: a failed job, pod or script step runs again on the next attempt of whatever
owns it, as a new job; a job lost to its infrastructure is never the step's outcome.

Every test drives the real CLI against a real SQLite file and real processes, and counts the
side effects the scripts leave in files.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI, start_kontinue, stop, wait_for
from tests.faults import fns_faults

FNS = str(Path(fns_faults.__file__))


def _counting(path: Path, succeed_from: int) -> str:
    """A command that appends a line to `path` and fails until it has `succeed_from` lines."""
    return f"echo run >> {path}; test $(wc -l < {path}) -ge {succeed_from}"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _pipeline(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nsteps:\n" + steps
    )
    return path


def _get(state_dir: Path, name: str) -> Execution:
    return open_store(state_dir).get(Execution, "default", name)


def test_step_retry_runs_a_failed_script_again(cli: CLI, tmp_path: Path) -> None:
    count = tmp_path / "count"
    pipeline = _pipeline(
        tmp_path,
        f"""\
  - name: flaky
    script: {{image: alpine:3.20, command: "{_counting(count, 3)}"}}
    retry: {{retries: 3, backoff: 1s}}
""",
    )
    done = cli("submit", str(pipeline), "--name", "p")
    assert done.returncode == 0, done.stderr
    assert _lines(count) == 3  # failed twice, succeeded on the third attempt, then stopped


def test_kontinue_retry_runs_the_failed_script_again_and_keeps_the_rest(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    ok, flaky = tmp_path / "ok", tmp_path / "flaky"
    pipeline = _pipeline(
        tmp_path,
        f"""\
  - name: ok
    script: {{image: alpine:3.20, command: "echo run >> {ok}"}}
  - name: flaky
    script: {{image: alpine:3.20, command: "{_counting(flaky, 2)}"}}
""",
    )
    failed = cli("submit", str(pipeline), "--name", "p")
    assert failed.returncode == 1
    assert "kontinue retry p" in failed.stderr  # the CLI's advice ...
    assert _get(state_dir, "p").status.phase == "Failed"
    again = cli("retry", "p")  # ... works
    assert again.returncode == 0, again.stderr
    assert (_lines(ok), _lines(flaky)) == (1, 2)
    ex = _get(state_dir, "p")
    assert ex.status.phase == "Completed"
    jobs = sorted(p.name for p in (state_dir / "jobs" / "default").iterdir())
    assert jobs == ["p-flaky", "p-flaky-a1", "p-ok"]  # a new job for the new attempt


def test_kontinue_retry_of_a_pipeline_reruns_a_failed_step_that_had_its_own_retry(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    count = tmp_path / "count"
    pipeline = _pipeline(
        tmp_path,
        f"""\
  - name: guarded
    script: {{image: alpine:3.20, command: "{_counting(count, 3)}"}}
    retry: {{retries: 1, backoff: 1s}}
""",
    )
    assert cli("submit", str(pipeline), "--name", "p").returncode == 1
    assert _lines(count) == 2
    again = cli("retry", "p")
    assert again.returncode == 0, again.stderr
    assert _lines(count) == 3 and _get(state_dir, "p").status.phase == "Completed"


def test_function_retry_runs_run_script_again(cli: CLI, tmp_path: Path, state_dir: Path) -> None:
    count = tmp_path / "count"
    done = cli(
        "execute", "flaky-script", "--import", FNS, "--name", "f",
        "-a", f"command={_counting(count, 3)}", "-o", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _lines(count) == 3
    assert json.loads(done.stdout) == 2  # it succeeded in its third attempt
    assert _get(state_dir, "f").status.attempts == 2


@pytest.mark.parametrize("function", ["two-scripts-retry-failed", "two-scripts"])
def test_retry_reruns_the_failed_script_not_the_succeeded_one(
    cli: CLI, tmp_path: Path, state_dir: Path, function: str
) -> None:
    """Issue 8: run_script respects `childPolicy: RetryFailed` (and the default does too)."""
    first, second = tmp_path / "first", tmp_path / "second"
    failed = cli(
        "execute", function, "--import", FNS, "--name", "f",
        "-a", f"first=echo run >> {first}", "-a", f"second={_counting(second, 2)}",
    )  # fmt: skip
    assert failed.returncode == 1
    assert "ErrJobFailed" not in failed.stderr and "a script failed" in failed.stderr
    again = cli("retry", "f", "--import", FNS)
    assert again.returncode == 0, again.stderr
    assert (_lines(first), _lines(second)) == (1, 2)


@pytest.mark.parametrize("function", ["one-job", "one-pod"])
def test_kontinue_retry_runs_a_failed_job_or_pod_again(
    cli: CLI, tmp_path: Path, state_dir: Path, function: str
) -> None:
    count = tmp_path / "count"
    args = ("--import", FNS, "--name", "f")
    assert cli("execute", function, *args, "-a", f"command={_counting(count, 2)}").returncode == 1
    again = cli("retry", "f", "--import", FNS)
    assert again.returncode == 0, again.stderr
    assert _lines(count) == 2


def _supervisor_pid(state_dir: Path, job: str) -> int | None:
    path = state_dir / "jobs" / "default" / job / "supervisor.json"
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.mark.slow
def test_a_killed_supervisor_is_an_infrastructure_error_that_retry_recovers(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    count = tmp_path / "count"
    # the first run waits to be killed; the second one (after `kontinue retry`) succeeds
    pipeline = _pipeline(
        tmp_path,
        f"""\
  - name: long
    script: {{image: alpine:3.20, command: "{_counting(count, 2)} || sleep 60"}}
""",
    )
    assert cli("submit", str(pipeline), "--name", "p", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker", "--with-controller", "--lease-duration", "1s")
    try:
        wait_for(lambda: _lines(count) == 1 and _supervisor_pid(state_dir, "p-long"), 60)
        pid = _supervisor_pid(state_dir, "p-long")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the machine under the job goes away
        wait_for(lambda: _get(state_dir, "p").terminal, 60, "the pipeline to fail")
    finally:
        stop(worker)
    ex = _get(state_dir, "p")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None and ex.status.error.kind == "Infrastructure"
    assert "supervisor process died" in ex.status.error.message
    assert ex.status.error.retryable
    journal = open_store(state_dir).read_journal("default", "p")
    assert not [e for e in journal if e["kind"] == "script"]  # never the step's outcome
    again = cli("retry", "p")
    assert again.returncode == 0, again.stderr
    assert _lines(count) == 2 and _get(state_dir, "p").status.phase == "Completed"


@pytest.mark.slow
def test_a_killed_supervisor_is_retried_by_the_steps_retry(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    count = tmp_path / "count"
    pipeline = _pipeline(
        tmp_path,
        f"""\
  - name: long
    script: {{image: alpine:3.20, command: "{_counting(count, 2)} || sleep 60"}}
    retry: {{retries: 2, backoff: 1s}}
""",
    )
    assert cli("submit", str(pipeline), "--name", "p", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker", "--with-controller", "--lease-duration", "1s")
    try:
        wait_for(lambda: _lines(count) == 1 and _supervisor_pid(state_dir, "p-long-long"), 60)
        pid = _supervisor_pid(state_dir, "p-long-long")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _get(state_dir, "p").terminal, 60, "the pipeline to end")
    finally:
        stop(worker)
    assert _get(state_dir, "p").status.phase == "Completed"
    assert _lines(count) == 2
    child = _get(state_dir, "p-long")
    assert child.status.attempts == 1
