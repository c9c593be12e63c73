"""Issue 9 item 4 (templates): a render has an output and CPU budget, and a canceled or
drained render stops — real CLI, worker and server processes under resource limits."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI, KONTINUE, ROOT, wait_for

SPIN = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done"
GROW = (  # doubles a string 64 times: 2**64 characters if nothing stopped it
    "{% set s = namespace(v='x') %}{% for i in range(64) %}"
    "{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}"
)
HUGE = "{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}"


def _pipeline(tmp_path: Path, command: str, name: str = "t") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\n"
        f"metadata: {{name: {name}}}\nsteps:\n"
        f'  - name: s\n    script:\n      image: alpine:3.20\n      command: "{command}"\n'
    )
    return path


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", **extra}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (SPIN, "s of CPU time"),
        (HUGE, "output is longer than"),
        (GROW, "builds a string longer than"),
    ],
    ids=["nested-ranges", "huge-output", "growing-string"],
)
def test_a_runaway_template_fails_its_step_within_bounds(
    state_dir: Path, tmp_path: Path, template: str, expected: str
) -> None:
    done = subprocess.run(
        [*KONTINUE, "--state-dir", str(state_dir), "submit", str(_pipeline(tmp_path, template)),
         "--name", "t"],
        env=_env(), capture_output=True, text=True, timeout=600, check=False,
        preexec_fn=_limits,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]  # failed, not killed by a limit
    assert "Traceback" not in done.stderr
    ex = open_store(state_dir).get(Execution, "default", "t")
    assert ex.status.phase == "Failed" and ex.status.error is not None
    assert expected in ex.status.error.message
    assert "KONTINUE_TEMPLATE_MAX" in ex.status.error.message


@pytest.mark.slow
def test_cancel_stops_a_spinning_render_and_the_worker_goes_on(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    assert cli("submit", str(_pipeline(tmp_path, SPIN)), "--name", "t", "--no-wait").returncode == 0
    worker = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "worker", "--concurrency", "1"],
        env=_env(KONTINUE_TEMPLATE_MAX_SECONDS="100000"),  # only the cancel can stop it
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_limits,
    )  # fmt: skip
    store = open_store(state_dir)
    try:
        wait_for(lambda: store.get(Execution, "default", "t").status.phase == "Executing", 60)
        assert cli("cancel", "t").returncode == 0
        # with one slot, the next pipeline runs only once the canceled render gave it back
        hello = _pipeline(tmp_path, "echo next", name="next")
        assert cli("submit", str(hello), "--name", "n", "--no-wait").returncode == 0
        wait_for(lambda: store.get(Execution, "default", "n").terminal, 120, "the next pipeline")
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(30)
    assert store.get(Execution, "default", "t").status.phase == "Canceled"
    assert store.get(Execution, "default", "n").status.phase == "Completed"


@pytest.mark.slow
def test_sigterm_stops_a_server_spinning_on_a_template(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    assert cli("submit", str(_pipeline(tmp_path, SPIN)), "--name", "t", "--no-wait").returncode == 0
    server = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "server", "--port", "0"],
        env=_env(KONTINUE_TEMPLATE_MAX_SECONDS="100000"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=_limits,
    )  # fmt: skip
    store = open_store(state_dir)
    try:
        wait_for(lambda: store.get(Execution, "default", "t").status.phase == "Executing", 60)
        server.send_signal(signal.SIGTERM)  # once
        _, err = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "server stopped" in err
    ex = store.get(Execution, "default", "t")
    assert ex.status.phase == "Pending" and ex.status.lease is None  # handed back at once
