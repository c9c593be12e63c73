"""Job steps on a real API server: real `batch/v1` Jobs run by the test node agent."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kontinue.api import Execution, Suspension
from tests.conftest import ROOT, wait_for
from tests.kubernetes.conftest import Kube
from tests.kubernetes.test_orchestration import _ok, _phase

pytestmark = pytest.mark.slow


def _jobs(kube: Kube, execution: str) -> list[object]:
    from kubernetes import client

    batch = client.BatchV1Api(kube.store.api_client)
    return list(batch.list_namespaced_job(kube.namespace).items)


def test_a_script_step_runs_as_a_job_owned_by_its_execution_with_logs_from_the_api(
    kube: Kube,
) -> None:
    kube.worker("worker-1")
    kube.worker("worker-2")
    kube.controller("controller-1")
    _ok(
        kube.cli(
            "execute",
            "kube-script",
            "--name",
            "say",
            "-a",
            "command=echo hello $WHO",
            "-a",
            "who=world",
            "--no-wait",
        )
    )
    wait_for(lambda: _phase(kube, "say") in ("Completed", "Failed"), 120, "the script step")
    ex = kube.store.get(Execution, kube.namespace, "say")
    assert ex.status.phase == "Completed", ex.status
    assert ex.status.result["exitCode"] == 0
    assert "hello world" in ex.status.result["logs"]
    jobs = _jobs(kube, "say")
    assert len(jobs) == 1
    job = jobs[0]
    owners = job.metadata.owner_references  # type: ignore[attr-defined]
    assert [(o.kind, o.name, o.uid) for o in owners] == [("Execution", "say", ex.metadata.uid)]
    assert job.metadata.labels["kontinue.cloud/execution"] == "say"  # type: ignore[attr-defined]
    logs = _ok(kube.cli("logs", "say"))
    assert "hello world" in logs


def test_a_job_that_disappears_fails_the_attempt_and_the_retry_starts_a_new_job(
    kube: Kube,
) -> None:
    kube.worker("worker-1")
    kube.controller("controller-1")
    manifest = kube.tmp / "ex.yaml"
    manifest.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Execution\nmetadata: {name: vanish}\n"
        "spec:\n  function: kube-script\n"
        "  arguments: {command: 'sleep 3; echo done $WHO', who: again}\n"
        "  retry: {retries: 1, backoff: 1s}\n"
    )
    _ok(kube.cli("create", "-f", str(manifest), "--no-wait"))
    wait_for(lambda: len(_jobs(kube, "vanish")) == 1, 60, "the first Job")
    from kubernetes import client

    batch = client.BatchV1Api(kube.store.api_client)
    first = _jobs(kube, "vanish")[0].metadata.name  # type: ignore[attr-defined]
    batch.delete_namespaced_job(first, kube.namespace, propagation_policy="Background")

    wait_for(lambda: _phase(kube, "vanish") in ("Completed", "Failed"), 120, "the retry")
    ex = kube.store.get(Execution, kube.namespace, "vanish")
    assert ex.status.phase == "Completed", ex.status
    assert ex.status.attempts == 1
    names = sorted(j.metadata.name for j in _jobs(kube, "vanish"))  # type: ignore[attr-defined]
    assert first not in names and len(names) == 1, names  # one new Job, not a loop of them
    assert "done again" in ex.status.result["logs"]


def test_a_deleted_job_with_no_retries_left_fails_with_an_infrastructure_error(
    kube: Kube,
) -> None:
    kube.worker("worker-1")
    kube.controller("controller-1")
    _ok(
        kube.cli(
            "execute",
            "kube-script",
            "--name",
            "gone",
            "-a",
            "command=sleep 30",
            "-a",
            "who=x",
            "--no-wait",
        )
    )
    wait_for(lambda: len(_jobs(kube, "gone")) == 1, 60, "the Job")
    from kubernetes import client

    batch = client.BatchV1Api(kube.store.api_client)
    batch.delete_namespaced_job(
        _jobs(kube, "gone")[0].metadata.name,  # type: ignore[attr-defined]
        kube.namespace,
        propagation_policy="Background",
    )
    wait_for(lambda: _phase(kube, "gone") == "Failed", 60, "the failure")
    ex = kube.store.get(Execution, kube.namespace, "gone")
    assert ex.status.error is not None
    assert ex.status.error.kind == "Infrastructure"
    assert "disappeared" in ex.status.error.message
    time.sleep(2)
    assert _jobs(kube, "gone") == []  # never re-created


def test_cancel_deletes_the_running_job(kube: Kube) -> None:
    kube.worker("worker-1")
    kube.controller("controller-1")
    _ok(
        kube.cli(
            "execute",
            "kube-script",
            "--name",
            "stopme",
            "-a",
            "command=sleep 60",
            "-a",
            "who=x",
            "--no-wait",
        )
    )
    wait_for(lambda: len(_jobs(kube, "stopme")) == 1, 60, "the Job")
    _ok(kube.cli("cancel", "stopme"))
    wait_for(lambda: _phase(kube, "stopme") == "Canceled", 30, "the cancel")
    wait_for(lambda: _jobs(kube, "stopme") == [], 30, "the Job to be deleted")


def test_submit_the_example_pipeline_runs_its_scripts_as_jobs_to_the_gate_and_resume_ends_it(
    kube: Kube,
) -> None:
    pipeline = str(ROOT / "pipelines" / "build-test-deploy.yaml")
    out = _ok(kube.cli("submit", pipeline, "-p", "service=shop", "--name", "ship"), 0)
    assert "waiting for approval" in out, out
    assert _phase(kube, "ship") == "Suspended"
    gates = kube.store.list(Suspension, kube.namespace)
    gate = next(g for g in gates if not g.status.resolved)
    assert len(_jobs(kube, "ship")) >= 5  # build, three tests, staging: real Jobs
    out = _ok(kube.cli("resume", "ship", gate.metadata.name))
    assert _phase(kube, "ship") == "Completed", out
    ex = kube.store.get(Execution, kube.namespace, "ship")
    assert ex.status.result["service"] == "shop"
    got = _ok(kube.cli("get", "ship"))
    assert "Completed" in got


def test_the_kubernetes_runner_is_refused_without_the_kubernetes_store(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kontinue", "--runner", "kubernetes", "list"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2, result
    assert "--runner kubernetes needs --store kubernetes" in result.stderr
    assert "Traceback" not in result.stderr
