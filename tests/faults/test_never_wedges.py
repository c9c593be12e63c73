"""Issue 9 item 5: the engine never wedges — failures are always recorded, recursion is
bounded, one SIGTERM stops a process (or it keeps its leases until it has), a closed pipe is
no traceback, and waiting for a dead worker's lease says so.

Real CLI processes, a real SQLite file, real signals; no wall-clock assertions.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import NotFoundError, StoreUnavailableError, open_store
from tests.conftest import CLI, KONTINUE, ROOT, start_kontinue, stop, wait_for
from tests.faults import fns_faults

FNS = str(Path(fns_faults.__file__))


def _get(state_dir: Path, name: str) -> Execution:
    return open_store(state_dir).get(Execution, "default", name)


def _phase(state_dir: Path, name: str) -> str | None:
    """The Execution's phase, None while it does not exist yet."""
    try:
        return _get(state_dir, name).status.phase
    except (NotFoundError, StoreUnavailableError):
        return None


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}


def test_an_exception_whose_str_raises_is_still_recorded(cli: CLI, state_dir: Path) -> None:
    done = cli("execute", "bad-str", "--import", FNS, "--name", "b", timeout=60)
    assert done.returncode == 1, done.stderr
    ex = _get(state_dir, "b")
    assert ex.status.phase == "Failed" and ex.status.lease is None
    assert ex.status.error is not None
    assert "UnprintableError" in ex.status.error.message
    assert "could not be read" in ex.status.error.message
    assert "Traceback" not in done.stderr


def test_a_function_that_executes_itself_stops_at_the_depth_limit(
    cli: CLI, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONTINUE_MAX_DEPTH", "5")
    done = cli("execute", "recurse", "--import", FNS, "--name", "r", timeout=120)
    assert done.returncode == 1
    assert "past the limit of 5 (KONTINUE_MAX_DEPTH)" in done.stderr
    assert "recurse -> recurse" in done.stderr
    executions = open_store(state_dir).list(Execution, "default")
    assert len(executions) == 6  # the root and five levels below it, not one more
    assert all(e.status.phase == "Failed" for e in executions)


@pytest.mark.slow
def test_sigterm_to_a_worker_running_a_long_function_keeps_its_lease_until_it_ends(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    starts, release = tmp_path / "starts", tmp_path / "release"
    created = cli(
        "execute", "busy", "--import", FNS, "--name", "busy", "--no-wait",
        "-a", f"starts={starts}", "-a", f"release={release}",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    lease = ("--lease-duration", "1s", "--import", FNS)
    first = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "worker", *lease],
        env=_env(), stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    second = None
    try:
        wait_for(lambda: starts.exists(), 60, "the function to start")
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(first.stderr or []), daemon=True)
        reader.start()
        first.send_signal(signal.SIGTERM)  # once, as systemd or `timeout` do
        # a second worker waits for work while the first one drains
        second = start_kontinue(state_dir, "worker", *lease)
        wait_for(
            lambda: any("keeping their leases until they end" in ln for ln in lines),
            60,
            "the worker to say it keeps the lease past its drain grace",
        )
        renewals: set[object] = set()

        def renewed_three_times() -> bool:
            lease_now = _get(state_dir, "busy").status.lease
            if lease_now is not None:
                renewals.add(lease_now.renew_time)
            return len(renewals) >= 4

        wait_for(renewed_three_times, 60, "lease renewals after SIGTERM")
        assert first.poll() is None  # it has not stopped, so it must not say it has
        assert _get(state_dir, "busy").status.phase == "Executing"
        assert starts.read_text().count("start") == 1  # no second copy anywhere
        release.touch()
        assert first.wait(60) == 0
        reader.join(10)
        assert lines[-1].strip() == "worker stopped"
    finally:
        release.touch()  # whatever failed, let the function end, so no process lingers
        if first.poll() is None:
            first.kill()
        if second is not None:
            stop(second)
    assert _get(state_dir, "busy").status.phase == "Completed"
    assert starts.read_text().count("start") == 1


@pytest.mark.slow
def test_one_sigterm_stops_a_foreground_submit_and_keeps_the_execution(
    state_dir: Path, tmp_path: Path, cli: CLI
) -> None:
    gate = tmp_path / "gate"
    pipeline = tmp_path / "wait.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: wait}\nsteps:\n"
        f"  - name: wait\n    script: {{image: alpine:3.20, command: 'while [ ! -e {gate} ]; "
        "do sleep 0.1; done; echo through'}\n"
    )
    proc = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "submit", str(pipeline), "--name", "w"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: _phase(state_dir, "w") == "Suspended",
            60,
            "the script step to start",
        )
        proc.send_signal(signal.SIGTERM)  # one TERM, as `timeout` and container runtimes send
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        gate.touch()  # the script ends whatever happened; the resume below records it
    assert proc.returncode == 143, err
    assert "stopped (SIGTERM)" in err and "Traceback" not in err
    assert _get(state_dir, "w").status.phase == "Suspended"  # kept as it was
    carried = cli("resume", "w")
    assert carried.returncode == 0, carried.stderr
    assert _get(state_dir, "w").status.phase == "Completed"


def test_a_closed_pipe_is_not_a_traceback(cli: CLI, state_dir: Path, tmp_path: Path) -> None:
    pipeline = tmp_path / "hello.yaml"
    pipeline.write_text((ROOT / "pipelines" / "hello.yaml").read_text())
    assert cli("submit", str(pipeline), "--name", "h").returncode == 0
    for verb in (["tree", "h"], ["get", "h", "-o", "yaml"], ["list"]):
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first line, as `| head -0` does
        proc = subprocess.run(
            [*KONTINUE, "--state-dir", str(state_dir), *verb],
            env=_env(), stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, check=False,
        )  # fmt: skip
        os.close(write)
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
        assert proc.returncode == 141


@pytest.mark.slow
def test_resume_after_a_crash_says_whose_lease_it_waits_for(
    state_dir: Path, tmp_path: Path, cli: CLI
) -> None:
    starts, release = tmp_path / "starts", tmp_path / "release"
    created = cli(
        "execute", "busy", "--import", FNS, "--name", "busy", "--no-wait",
        "-a", f"starts={starts}", "-a", f"release={release}",
    )  # fmt: skip
    assert created.returncode == 0
    worker = start_kontinue(state_dir, "worker", "--lease-duration", "4s", "--import", FNS)
    try:
        wait_for(lambda: starts.exists(), 60, "the function to start")
    finally:
        stop(worker, signal.SIGKILL)  # a crash: the lease stays behind
    release.touch()
    resumed = cli("resume", "busy", "--import", FNS)
    assert resumed.returncode == 0, resumed.stderr
    assert "is held by worker" in resumed.stderr and "lease until" in resumed.stderr
    assert _get(state_dir, "busy").status.phase == "Completed"
