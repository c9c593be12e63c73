"""The controller watches Jobs instead of polling them: a real worker process runs a script
step as a Job; the controller (in this process, on the real cluster) learns of the Job's end
from its watch of `batch/v1` Jobs, and the watch lists again after a `410 Gone`."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kontinue.api import Execution
from kontinue.runners import JobRecord, KubernetesRunner
from kontinue.runtime import Controller
from tests.conftest import wait_for
from tests.kubernetes.conftest import Kube
from tests.kubernetes.test_orchestration import _ok, _phase
from tests.store._backends import StoreTarget, _bump_revision, _etcd_revision

pytestmark = pytest.mark.slow


class CountingRunner(KubernetesRunner):
    """The real Kubernetes runner, counting the reads of a Job it is asked for."""

    def __init__(self, api_client: Any) -> None:
        super().__init__(api_client)
        self.polls = 0

    def poll(self, name: str, namespace: str) -> JobRecord | None:
        self.polls += 1
        return super().poll(name, namespace)


def test_the_controller_learns_a_jobs_end_from_its_watch_not_by_polling(kube: Kube) -> None:
    kube.worker("worker-1")
    runner = CountingRunner(kube.store.api_client)
    ctl = Controller(kube.store, namespace=kube.namespace, runners={"kubernetes": runner})
    stop = threading.Event()
    thread = threading.Thread(target=ctl.run, args=(stop,), daemon=True)
    thread.start()
    try:
        _ok(
            kube.cli(
                "execute",
                "kube-script",
                "--name",
                "w",
                "-a",
                "command=sleep 6; echo done $WHO",
                "-a",
                "who=watched",
                "--no-wait",
            )
        )
        wait_for(lambda: _phase(kube, "w") in ("Completed", "Failed"), 120, "the script step")
        watched = ctl.jobs.watched("kubernetes", kube.namespace)
    finally:
        stop.set()
        thread.join(10)
        ctl.close()
    ex = kube.store.get(Execution, kube.namespace, "w")
    assert ex.status.phase == "Completed", ex.status
    assert "done watched" in ex.status.result["logs"]
    # The Job ran 6 s: polled every 0.5 s that is a dozen reads. Watched, the controller
    # read it at most until its watch had listed the Jobs once (the rest came from the
    # watch's cache, and the Job's end woke the controller).
    assert watched
    assert runner.polls <= 3, runner.polls


def test_a_job_watch_lists_again_after_410_gone_and_sees_later_jobs(kube: Kube) -> None:
    runner = KubernetesRunner(kube.store.api_client)
    changes: list[int] = []
    from kontinue.runners._kubejobs import JobWatch

    watch = JobWatch(
        kube.store.api_client, kube.namespace, lambda: changes.append(1), watch_seconds=1
    )
    try:
        assert watch.wait_synced(30) and watch.relists == 1
        # The watch's version is compacted away while it waits: when the server ends the
        # watch (after 1 s) and it resumes from that version, etcd answers 410 Gone.
        target = StoreTarget("kubernetes", kube.kubeconfig)
        # (a write after the watch's version first: the watch resumes at its version + 1)
        _bump_revision(kube.kubeconfig)
        target.forget_changes_through(_etcd_revision(kube.kubeconfig))
        wait_for(lambda: watch.relists >= 2, 60, "a relist after 410 Gone")
        assert watch.broken is None
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "after-gone", "labels": {"kontinue.cloud/execution": "x"}},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "none", "command": ["true"]}],
                    }
                }
            },
        }
        runner.batch.create_namespaced_job(kube.namespace, job)
        wait_for(lambda: watch.get("after-gone") is not None, 60, "the watch to see the Job")
        wait_for(
            lambda: (
                (watch.get("after-gone") or JobRecord(name="", namespace="")).phase == "Succeeded"
            ),
            120,
            "the Job's end on the watch",
        )
        runner.cancel("after-gone", kube.namespace)
        wait_for(lambda: watch.get("after-gone") is None, 60, "the deletion on the watch")
    finally:
        watch.close()


def test_a_job_watch_without_the_right_to_list_jobs_says_so_and_polling_takes_over(
    kube: Kube,
) -> None:
    from kontinue.runtime._jobwatch import JobWatches
    from kontinue.store import connect_kubernetes

    # an identity with no rights at all in the namespace (the admin may impersonate it)
    conn = connect_kubernetes(kube.kubeconfig)
    conn.api_client.set_default_header("Impersonate-User", "system:serviceaccount:x:nobody")
    watches = JobWatches({"kubernetes": KubernetesRunner(conn.api_client)})
    try:
        assert not watches.watched("kubernetes", kube.namespace)  # starts it, not synced
        watch = watches._watches[("kubernetes", kube.namespace)]
        wait_for(lambda: watch.broken is not None, 30, "the watch to give up")
        assert watch.broken.startswith("403")
        assert not watches.watched("kubernetes", kube.namespace)  # so the controller polls
        assert not watches.active()
    finally:
        watches.close()
        conn.api_client.close()
