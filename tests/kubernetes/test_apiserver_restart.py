"""A worker rides out an API server restart, as client-go's informers do: one warning line,
no traceback, the process keeps running and finishes its Execution once the server is back,
with no step run twice. The test starts a private cluster, since it kills its API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from kontinue.api import Execution
from kontinue.store import open_kubernetes_store
from tests.conftest import ROOT
from tests.kubernetes.conftest import FNS
from tests.testcluster.test_cluster import SCRIPT, Cluster, _alive, _pid, _ready, wait_for


def test_a_worker_rides_out_an_api_server_restart(kube_cluster: Path, tmp_path: Path) -> None:
    directory = tmp_path / "c"
    env = {**os.environ, "PYTHON": sys.executable}
    for key in ("KONTINUE_CLUSTER_ETCD_PORT", "KONTINUE_CLUSTER_APISERVER_PORT"):
        env.pop(key, None)
    up = subprocess.run(
        [str(SCRIPT), "up", str(directory)], capture_output=True, text=True, env=env, timeout=300
    )
    assert up.returncode == 0, up.stderr
    kubeconfig = str(directory / "kubeconfig")
    run_env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
    base = [sys.executable, "-m", "kontinue", "--store", "kubernetes", "--kubeconfig", kubeconfig]
    log_path = tmp_path / "worker.log"
    worker = None
    try:
        with log_path.open("wb") as log:
            worker = subprocess.Popen(
                [*base, "worker", "--import", FNS, "--lease-duration", "3s"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=run_env,
                cwd=tmp_path,
                start_new_session=True,
            )
        wait_for(lambda: "running" in log_path.read_text(), 60, "the worker to start")
        marks = tmp_path / "marks"
        step_args = ["-a", "n=12", "-a", "pause=0.5", "-a", f"marks={marks}"]
        started = subprocess.run(
            [*base, "execute", "kube-steps", "--name", "steps", "--no-wait", *step_args],
            capture_output=True,
            text=True,
            env=run_env,
            cwd=tmp_path,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        wait_for(lambda: marks.exists() and marks.read_text().count("step-") >= 2, 60, "steps")

        apiserver = _pid(directory, "kube-apiserver")
        argv = Path(f"/proc/{apiserver}/cmdline").read_bytes().split(b"\0")[:-1]
        os.kill(apiserver, signal.SIGKILL)
        wait_for(lambda: not _alive(apiserver), 30, "the API server to stop")
        wait_for(
            lambda: "retrying until it answers" in log_path.read_text(), 60, "the worker's warning"
        )
        assert worker.poll() is None, log_path.read_text()
        with (directory / "kube-apiserver.log").open("ab") as server_log:
            restarted = subprocess.Popen(
                [a.decode() for a in argv],
                stdout=server_log,
                stderr=server_log,
                start_new_session=True,
            )
        (directory / "kube-apiserver.pid").write_text(str(restarted.pid))
        c = Cluster(directory / "kubeconfig")
        wait_for(lambda: _ready(c), 60, "the API server to come back")
        c.api_client.close()

        store = open_kubernetes_store(kubeconfig)
        try:

            def phase() -> str:
                try:
                    return store.get(Execution, store.namespace, "steps").status.phase
                except Exception:
                    return ""

            try:
                wait_for(lambda: phase() == "Completed", 120, "the Execution to complete")
            except AssertionError:
                raise AssertionError(
                    f"{phase()}\n{marks.read_text()}\n{log_path.read_text()[-6000:]}"
                ) from None
        finally:
            store.close()
        assert worker.poll() is None, log_path.read_text()  # the same process, still serving
        text = log_path.read_text()
        assert "Traceback" not in text, text
        done = [line.split()[0] for line in marks.read_text().splitlines()]
        assert sorted(set(done)) == sorted(f"step-{i}" for i in range(12))
        pids = {line.split("pid=")[1] for line in marks.read_text().splitlines()}
        assert pids == {str(worker.pid)}
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        subprocess.run([str(SCRIPT), "down", str(directory)], capture_output=True, timeout=120)
