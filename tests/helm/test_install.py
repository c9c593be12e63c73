"""The chart installed by the real Helm engine on the test cluster: its controller and worker
pods run (as local processes, through the test node agent) and the worker runs an Execution
created from outside, as a user of the chart would see it."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python

from tests.conftest import KONTINUE

ROOT = Path(__file__).resolve().parent.parent.parent
CHART = ROOT / "helm" / "kontinue"
FUNCTIONS = ROOT / "tests" / "helm" / "fns_health.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def test_the_installed_chart_runs_an_execution(kube_cluster: Path) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(kube_cluster))
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    namespace = f"helm-{uuid.uuid4().hex[:8]}"
    values = {
        # One replica each: every pod of this node listens on the same host.
        "controller": {"replicas": 1, "healthPort": free_port()},
        "worker": {
            "replicas": 1,
            "healthPort": free_port(),
            "modules": [str(FUNCTIONS)],
            "concurrency": 2,
        },
    }
    cfg = helm_python.Config(kubeconfig_path=str(kube_cluster), namespace=namespace)
    try:
        cfg.install(
            str(CHART), "kontinue", values, namespace=namespace, create_namespace=True, timeout=120
        )

        def running(component: str) -> bool:
            pods = core.list_namespaced_pod(
                namespace, label_selector=f"app.kubernetes.io/component={component}"
            ).items
            return any(p.status.phase == "Running" for p in pods)

        wait_for(lambda: running("controller") and running("worker"), 120, "the pods to run")
        # The worker publishes its function in its namespace.
        wait_for(
            lambda: any(
                f["metadata"]["name"] == "health-noop"
                for f in custom.list_namespaced_custom_object(
                    "kontinue.cloud", "v1alpha1", namespace, "functions"
                )["items"]
            ),
            120,
            "the worker's Function",
        )
        created = subprocess.run(
            [
                *KONTINUE,
                "--store",
                "kubernetes",
                "--kubeconfig",
                str(kube_cluster),
                "-n",
                namespace,
                "execute",
                "health-noop",
                "--name",
                "from-outside",
                "--no-wait",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert created.returncode == 0, created.stderr

        def phase() -> str | None:
            obj = custom.get_namespaced_custom_object(
                "kontinue.cloud", "v1alpha1", namespace, "executions", "from-outside"
            )
            found = obj.get("status", {}).get("phase")
            return found if found in ("Completed", "Failed", "Canceled") else None

        assert wait_for(phase, 120, "the Execution to finish") == "Completed"
        done = custom.get_namespaced_custom_object(
            "kontinue.cloud", "v1alpha1", namespace, "executions", "from-outside"
        )
        assert done["status"]["result"] == "ok"
        # It ran in the worker pod (whose log, read through the API server, says it serves it).
        (worker,) = core.list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/component=worker"
        ).items
        log = core.read_namespaced_pod_log(worker.metadata.name, namespace)
        assert "running health-noop" in log, log
        # ...and found the cluster as a pod does: its service account's token and CA (the
        # node agent mounts them where the ServiceAccount admission put the volume), so it
        # worked as `kontinue-worker` under the chart's Role, not as an admin
        assert "(in-cluster service account)" in log, log
        assert worker.spec.service_account_name == "kontinue-worker"
    finally:
        try:
            cfg.uninstall("kontinue", ignore_not_found=True, timeout=60)
        finally:
            cfg.close()
            core.delete_namespace(namespace)
            api.close()
