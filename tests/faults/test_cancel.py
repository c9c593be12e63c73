"""Issue 9 item 2: cancel stops the work, with or without a controller, and a worker started
alone either drives what it needs or says why nothing moves. Real processes throughout."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI, KONTINUE, ROOT, start_kontinue, stop, wait_for

PARALLEL = """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {{name: two}}
# `$$$$` is the shell's `$$`: as on Kubernetes, `$$` in a command stands for one `$`
steps:
  - name: both
    parallel:
      - name: a
        script: {{image: alpine:3.20, command: "echo $$$$ > {a}; exec sleep 120"}}
      - name: b
        script: {{image: alpine:3.20, command: "echo $$$$ > {b}; exec sleep 120"}}
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}


@pytest.mark.slow
@pytest.mark.parametrize("submitter", ["running", "killed"])
def test_cancel_stops_running_scripts(
    cli: CLI, state_dir: Path, tmp_path: Path, submitter: str
) -> None:
    a, b = tmp_path / "a.pid", tmp_path / "b.pid"
    pipeline = tmp_path / "two.yaml"
    pipeline.write_text(PARALLEL.format(a=a, b=b))
    proc = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "submit", str(pipeline), "--name", "two"],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _pid(a) and _pid(b), 60, "both scripts to start")
        pids = [_pid(a), _pid(b)]
        assert all(p is not None and _alive(p) for p in pids)
        if submitter == "killed":
            proc.kill()  # nobody is left to run a controller
            proc.wait(30)
        canceled = cli("cancel", "two")
        assert canceled.returncode == 0, canceled.stderr
        # the cancel itself stopped them: no controller had to run
        assert not any(_alive(p) for p in pids if p is not None)
        if submitter == "running":
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 1 and "canceled" in err
    finally:
        if proc.poll() is None:
            proc.kill()
    store = open_store(state_dir)
    phases = {e.metadata.name: e.status.phase for e in store.list(Execution, "default")}
    assert set(phases.values()) == {"Canceled"}, phases


@pytest.mark.slow
def test_a_worker_alone_runs_a_pipeline_to_the_end(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    pipeline = tmp_path / "hello.yaml"
    pipeline.write_text((ROOT / "pipelines" / "hello.yaml").read_text())
    assert cli("submit", str(pipeline), "--name", "h", "--no-wait").returncode == 0
    worker = start_kontinue(state_dir, "worker")  # no controller asked for, none elsewhere
    store = open_store(state_dir)
    try:
        wait_for(lambda: store.get(Execution, "default", "h").terminal, 60, "the pipeline's end")
    finally:
        stop(worker)
    assert store.get(Execution, "default", "h").status.phase == "Completed"


def test_a_worker_without_a_controller_says_so(state_dir: Path, tmp_path: Path) -> None:
    fns = tmp_path / "fns.py"
    fns.write_text("import kontinue\n\n@kontinue.function('noop')\ndef noop(ktx):\n    return 1\n")
    proc = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "worker", "--no-controller", "--import",
         str(fns)],
        env=_env(), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline(), proc.stderr.readline()]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = "".join(lines)
    assert "without a controller" in text and "kontinue controller" in text
