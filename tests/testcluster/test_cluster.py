"""The test cluster itself (`scripts/cluster`): a real API server whose Jobs run through the
test node agent, logs through `pods/log`, and the things a naive agent forgets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "cluster"


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class Cluster:
    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client, config

        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.batch = client.BatchV1Api(self.api_client)
        self.client = client

    def job(self, namespace: str, name: str, script: str, backoff_limit: int = 0) -> None:
        self.batch.create_namespaced_job(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {
                    "backoffLimit": backoff_limit,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "main",
                                    "image": "busybox",
                                    "command": ["sh", "-c", script],
                                    "env": [
                                        {"name": "GREETING", "value": "hello $(WHO)"},
                                        {"name": "WHO", "value": "ignored-order"},
                                        {
                                            "name": "MY_POD",
                                            "valueFrom": {
                                                "fieldRef": {"fieldPath": "metadata.name"}
                                            },
                                        },
                                    ],
                                }
                            ],
                        }
                    },
                },
            },
        )

    def wait_default_service_account(self, namespace: str) -> None:
        """Pods need the namespace's default ServiceAccount and its token (made by the
        controller manager a moment after the namespace)."""

        def ready() -> bool:
            return any(
                sa.metadata.name == "default" and sa.secrets
                for sa in self.core.list_namespaced_service_account(namespace).items
            )

        wait_for(ready, 60, "the default ServiceAccount's token")

    def job_condition(self, namespace: str, name: str) -> str | None:
        job = self.batch.read_namespaced_job(name, namespace)
        for condition in (job.status and job.status.conditions) or []:
            if condition.status == "True" and condition.type in ("Complete", "Failed"):
                return f"{condition.type}:{condition.reason or ''}"
        return None

    def pods_of(self, namespace: str, job: str) -> list[Any]:
        return self.core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items

    def pod(self, namespace: str, name: str, command: list[str], **spec: Any) -> None:
        self.core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox", "command": command}],
                    **spec,
                },
            },
        )

    def phase(self, namespace: str, name: str) -> str | None:
        try:
            return str(self.core.read_namespaced_pod(name, namespace).status.phase)
        except self.client.ApiException as exc:
            if exc.status == 404:
                return "Gone"
            raise


@pytest.fixture
def cluster(kube_cluster: Path) -> Iterator[Cluster]:
    c = Cluster(kube_cluster)
    yield c
    c.api_client.close()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"tc-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace({"metadata": {"name": name}})
    cluster.wait_default_service_account(name)
    yield name
    cluster.core.delete_namespace(name)


def test_a_job_runs_to_complete_and_its_logs_come_through_the_api_server(
    cluster: Cluster, namespace: str
) -> None:
    cluster.job(namespace, "ok", 'for i in 1 2 3 4 5; do echo "line $i"; done; echo "$GREETING"')
    assert wait_for(lambda: cluster.job_condition(namespace, "ok"), what="the Job") == ("Complete:")
    (pod,) = cluster.pods_of(namespace, "ok")
    assert pod.spec.node_name == "kontinue-test-node"
    status = pod.status.container_statuses[0]
    assert status.state.terminated.exit_code == 0
    logs = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace)
    # $(WHO) is defined after GREETING: Kubernetes leaves it unexpanded, and so does the agent.
    assert logs.splitlines() == [f"line {i}" for i in range(1, 6)] + ["hello $(WHO)"]
    tail = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=2)
    assert tail.splitlines() == ["line 5", "hello $(WHO)"]
    stamped = cluster.core.read_namespaced_pod_log(
        pod.metadata.name, namespace, tail_lines=1, timestamps=True
    )
    assert stamped.endswith(" hello $(WHO)\n") and stamped[:4].isdigit()
    limited = cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace, limit_bytes=8)
    assert limited == "line 1\nl"


def test_a_failing_job_fails_with_its_exit_code(cluster: Cluster, namespace: str) -> None:
    cluster.job(namespace, "bad", "echo about to fail; exit 7")
    assert wait_for(lambda: cluster.job_condition(namespace, "bad"), what="the Job") == (
        "Failed:BackoffLimitExceeded"
    )
    (pod,) = cluster.pods_of(namespace, "bad")
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 7
    assert cluster.core.read_namespaced_pod_log(pod.metadata.name, namespace) == "about to fail\n"


def test_a_pod_deleted_while_running_stops_and_goes_away(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pid"
    # $$$$: Kubernetes turns $$ into $ in commands, so the shell sees $$ (its pid).
    cluster.pod(namespace, "sleeper", ["sh", "-c", f"echo $$$$ > {marker}; exec sleep 600"])
    wait_for(lambda: cluster.phase(namespace, "sleeper") == "Running", what="Running")
    pid = int(wait_for(lambda: marker.exists() and marker.read_text().strip(), what="the pid"))
    cluster.core.delete_namespaced_pod("sleeper", namespace, grace_period_seconds=5)
    # The agent stops the process and finishes the deletion (no pod left Terminating).
    wait_for(lambda: cluster.phase(namespace, "sleeper") == "Gone", 30, "the pod to go")
    wait_for(lambda: not _alive(pid), 10, "the process to stop")


def test_a_pod_over_its_active_deadline_is_killed(cluster: Cluster, namespace: str) -> None:
    cluster.pod(namespace, "late", ["sleep", "600"], activeDeadlineSeconds=1)
    wait_for(lambda: cluster.phase(namespace, "late") == "Failed", 30, "the deadline")
    pod = cluster.core.read_namespaced_pod("late", namespace)
    assert pod.status.reason == "DeadlineExceeded"


def test_a_pod_without_a_command_fails_with_a_reason(cluster: Cluster, namespace: str) -> None:
    cluster.pod(namespace, "nocmd", [])
    wait_for(lambda: cluster.phase(namespace, "nocmd") == "Failed", 30, "the failure")
    pod = cluster.core.read_namespaced_pod("nocmd", namespace)
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.reason == "NoCommand"
    assert "busybox" in terminated.message


def test_follow_streams_until_the_container_ends(cluster: Cluster, namespace: str) -> None:
    cluster.pod(
        namespace, "talker", ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"]
    )
    wait_for(lambda: cluster.phase(namespace, "talker") == "Running", what="Running")
    response = cluster.core.read_namespaced_pod_log(
        "talker", namespace, follow=True, _preload_content=False
    )
    body = response.read().decode()
    assert body.splitlines() == ["tick 1", "tick 2", "tick 3"]


# --- a cluster of its own: start, restart of the API server, stop ---------------------------


def _alive(pid: int) -> bool:
    """The process runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid(directory: Path, part: str) -> int:
    return int((directory / f"{part}.pid").read_text())


def test_up_status_down_and_the_agent_survives_an_api_server_restart(
    kube_cluster: Path, tmp_path: Path
) -> None:
    # kube_cluster: the binaries are built (this test starts a second, private cluster).
    directory = tmp_path / "c"
    env = {**os.environ, "PYTHON": sys.executable}
    for key in ("KONTINUE_CLUSTER_ETCD_PORT", "KONTINUE_CLUSTER_APISERVER_PORT"):
        env.pop(key, None)
    up = subprocess.run(
        [str(SCRIPT), "up", str(directory)], capture_output=True, text=True, env=env, timeout=300
    )
    assert up.returncode == 0, up.stderr
    worker: subprocess.Popen[bytes] | None = None
    try:
        assert up.stdout.strip() == str(directory / "kubeconfig")
        status = subprocess.run([str(SCRIPT), "status", str(directory)], capture_output=True)
        assert status.returncode == 0
        # A second `up` finds it running and changes nothing.
        pids = {p: _pid(directory, p) for p in ("etcd", "kube-apiserver", "node-agent")}
        again = subprocess.run(
            [str(SCRIPT), "up", str(directory)], capture_output=True, text=True, env=env
        )
        assert again.returncode == 0 and "already running" in again.stderr
        assert pids == {p: _pid(directory, p) for p in pids}

        c = Cluster(directory / "kubeconfig")
        # The chart's CRDs are installed.
        from kubernetes import client

        names = {
            crd.metadata.name
            for crd in client.ApiextensionsV1Api(c.api_client)
            .list_custom_resource_definition()
            .items
        }
        assert "executions.kontinue.cloud" in names

        # A kontinue worker rides out the crash below (as client-go's informers do).
        worker_log = tmp_path / "worker.log"
        kontinue = [sys.executable, "-m", "kontinue", "--store", "kubernetes", "--kubeconfig"]
        worker = subprocess.Popen(
            [*kontinue, str(directory / "kubeconfig"), "-n", "default", "worker", "--import",
             str(ROOT / "tests" / "kubernetes" / "fns_kube.py"), "--lease-duration", "3s"],
            stdout=worker_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        wait_for(lambda: "kube-steps" in worker_log.read_text(), 60, "the worker to start")

        # The API server crashes and is started again with the same command.
        apiserver = _pid(directory, "kube-apiserver")
        argv = Path(f"/proc/{apiserver}/cmdline").read_bytes().split(b"\0")[:-1]
        os.kill(apiserver, signal.SIGKILL)  # a crash: no goodbye to its watchers
        wait_for(lambda: not _alive(apiserver), 30, "the API server to stop")
        time.sleep(2)  # the agent's and the worker's watches and heartbeats fail meanwhile
        log = open(directory / "kube-apiserver.log", "ab")  # noqa: SIM115
        restarted = subprocess.Popen(
            [a.decode() for a in argv], stdout=log, stderr=log, start_new_session=True
        )
        (directory / "kube-apiserver.pid").write_text(str(restarted.pid))
        wait_for(lambda: _ready(c), 60, "the API server to come back")
        c.core.create_namespace({"metadata": {"name": "after"}})
        c.wait_default_service_account("after")
        c.pod("after", "p", ["echo", "still here"])
        wait_for(lambda: c.phase("after", "p") == "Succeeded", 60, "the pod after the restart")
        assert c.core.read_namespaced_pod_log("p", "after") == "still here\n"

        # the worker rode the outage out: it still runs, said no traceback, and serves
        said = worker_log.read_text()
        assert worker.poll() is None, said
        assert "Traceback" not in said, said
        done = subprocess.run(
            [*kontinue, str(directory / "kubeconfig"), "-n", "default", "execute", "kube-steps",
             "--import", str(ROOT / "tests" / "kubernetes" / "fns_kube.py"),
             "-a", "n=2", "-a", f"marks={tmp_path / 'marks'}"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        c.api_client.close()
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        down = subprocess.run(
            [str(SCRIPT), "down", str(directory)], capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    status = subprocess.run([str(SCRIPT), "status", str(directory)], capture_output=True)
    assert status.returncode == 3
    for part in ("etcd", "kube-apiserver", "kube-controller-manager", "node-agent"):
        assert not (directory / f"{part}.pid").exists()


def _ready(c: Cluster) -> bool:
    try:
        method, url, headers, _, _ = c.api_client.param_serialize(
            "GET", "/readyz", auth_settings=["BearerToken"]
        )
        response = c.api_client.call_api(method, url, header_params=headers, _request_timeout=2)
        response.read()
        return response.status == 200
    except Exception:
        return False
