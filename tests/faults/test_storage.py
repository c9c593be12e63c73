"""Issue 9 item 3: storage faults end in one line naming the file and the cause, exit 2, and
lose nothing — on a real small tmpfs (disk full, read-only remount), with truncated and
corrupted files, and a state directory deleted under a running worker."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import KONTINUE, ROOT, wait_for


def _run(state: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KONTINUE, "--state-dir", str(state), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("kontinue: error")]
    assert len(errors) == 1, done.stderr
    for text in expected:
        assert text in errors[0], errors[0]


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(mount: Path) -> Path:
    filler = mount / "filler"
    with filler.open("wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return filler


PIPELINE = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {{name: two}}
steps:
  - name: first
    script:
      image: alpine:3.20
      command: "echo first >> {marks}; while [ ! -e {gate} ]; do sleep 0.05; done"
  - name: second
    script: {{image: alpine:3.20, command: "echo second >> {marks}"}}
"""


@pytest.mark.slow
def test_disk_full_mid_run_is_one_line_and_the_execution_resumes(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "8M") as disk:
        state, marks, gate = disk / "state", tmp_path / "marks", tmp_path / "gate"
        state.mkdir()
        jobs = tmp_path / "jobs"  # the job logs live elsewhere: the store alone meets the fault
        jobs.mkdir()
        (state / "jobs").symlink_to(jobs)
        pipeline = tmp_path / "two.yaml"
        pipeline.write_text(PIPELINE.format(marks=marks, gate=gate))
        proc = subprocess.Popen(
            [*KONTINUE, "--state-dir", str(state), "submit", str(pipeline), "--name", "two"],
            env={**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: marks.exists(), 60, "the first step to start")
            filler = _fill(disk)  # the disk fills up while the step runs
            gate.touch()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        _one_line_exit_2(
            subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
            str(state / "kontinue.db"),
            "no space left on device",
        )
        filler.unlink()  # space returns
        ex = open_store(state).get(Execution, "default", "two")
        assert not ex.terminal  # intact: neither failed nor lost
        carried = _run(state, "resume", "two")
        assert carried.returncode == 0, carried.stderr[-3000:]
        assert open_store(state).get(Execution, "default", "two").status.phase == "Completed"
        assert marks.read_text().splitlines() == ["first", "second"]  # each ran once


def test_disk_full_before_the_store_exists(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "1M") as disk:
        _fill(disk)
        done = _run(disk / "state", "submit", str(ROOT / "pipelines" / "hello.yaml"))
        _one_line_exit_2(done, "no space left on device")


def test_read_only_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "disk", "16M") as disk:
        state = disk / "state"
        first = _run(state, "submit", str(ROOT / "pipelines" / "hello.yaml"), "--name", "h")
        assert first.returncode == 0, first.stderr
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        try:
            listed = _run(state, "list")
            assert listed.returncode == 0, listed.stderr
            assert "h " in listed.stdout and "Completed" in listed.stdout
            got = _run(state, "get", "h", "-o", "json")
            assert got.returncode == 0 and '"Completed"' in got.stdout
            tree = _run(state, "tree", "h")
            assert tree.returncode == 0, tree.stderr
            done = _run(state, "submit", str(ROOT / "pipelines" / "hello.yaml"))
            _one_line_exit_2(done, str(state / "kontinue.db"), "read-only")
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (ProcessLookupError, OSError):
        return False
    return state != "Z"


def _store_with_one(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    done = _run(state, "submit", str(ROOT / "pipelines" / "hello.yaml"), "--name", "h")
    assert done.returncode == 0, done.stderr
    return state


def test_a_corrupted_file_is_one_line_and_doctor_says_so(tmp_path: Path) -> None:
    state = _store_with_one(tmp_path)
    db = state / "kontinue.db"
    conn = sqlite3.connect(db)  # fold the WAL into the file, so the file is the whole state
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = db.stat().st_size
    with db.open("r+b") as fh:  # keep the header, scribble over every page after the first
        fh.seek(4096)
        fh.write(b"\xa5" * (size - 4096))
    for verb in (["list"], ["get", "h"], ["submit", str(ROOT / "pipelines" / "hello.yaml")]):
        _one_line_exit_2(_run(state, *verb), str(db), "corrupted", "kontinue doctor")
    doctor = _run(state, "doctor")
    assert (
        doctor.returncode == 1 and "corrupted" in doctor.stdout and "Traceback" not in doctor.stderr
    )
    server = _run(state, "server")  # a server on it stops at once with the same line
    _one_line_exit_2(server, "corrupted")


def test_an_empty_file_is_refused_until_the_user_initialises_it(tmp_path: Path) -> None:
    state = _store_with_one(tmp_path)
    for leftover in ("kontinue.db-wal", "kontinue.db-shm"):
        with contextlib.suppress(FileNotFoundError):
            (state / leftover).unlink()
    (state / "kontinue.db").write_bytes(b"")  # a crash, a bad copy, a full disk at restore
    _one_line_exit_2(_run(state, "list"), "is empty (0 bytes)", "kontinue doctor --init")
    _one_line_exit_2(_run(state, "submit", str(ROOT / "pipelines" / "hello.yaml")), "is empty")
    assert (state / "kontinue.db").stat().st_size == 0  # nothing silently re-created
    init = _run(state, "doctor", "--init")
    assert init.returncode == 0, init.stdout + init.stderr
    listed = _run(state, "list")
    assert listed.returncode == 0 and "No Executions" in listed.stderr


@pytest.mark.slow
def test_a_worker_whose_state_directory_is_deleted_stops(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert (
        _run(state, "submit", str(ROOT / "pipelines" / "hello.yaml"), "--no-wait").returncode == 0
    )
    worker = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state), "worker"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        store = open_store(state)
        wait_for(lambda: all(e.terminal for e in store.list(Execution, "default")), 60)
        shutil.rmtree(state)
        _, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
    assert worker.returncode == 2, err
    assert "was deleted" in err and "Traceback" not in err


@pytest.mark.slow
def test_doctor_finds_orphaned_jobs_stale_leases_and_writes_a_backup(tmp_path: Path) -> None:
    state = tmp_path / "state"
    pid_file = tmp_path / "pid"
    pipeline = tmp_path / "long.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: long}\nsteps:\n"
        f"  - name: s\n    script: {{image: a, command: 'echo $$$$ > {pid_file}; exec sleep 300'}}"
        "\n"
    )
    assert _run(state, "submit", str(pipeline), "--name", "long", "--no-wait").returncode == 0
    worker = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state), "worker", "--lease-duration", "1s"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), 60)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    pid = int(pid_file.read_text())
    # the store says the Execution ended while its job runs on (a store restored from an older
    # backup, or a cancel by a process that could not reach the job)
    store = open_store(state)
    ex = store.get(Execution, "default", "long")
    ex.status.phase = "Failed"
    ex.status.lease = None
    store.update_status(ex)
    doctor = _run(state, "doctor")
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "job long-s still runs" in doctor.stdout
    fixed = _run(state, "doctor", "--fix", "--backup", str(tmp_path / "backup.db"))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "stopped job long-s" in fixed.stdout
    wait_for(lambda: not _alive(pid), 30, "the orphaned script to be stopped")
    backup_dir = tmp_path / "restored"
    backup_dir.mkdir()
    (tmp_path / "backup.db").rename(backup_dir / "kontinue.db")
    assert _run(backup_dir, "list").returncode == 0
