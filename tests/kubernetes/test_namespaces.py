"""`kontinue worker -A` and `kontinue controller -A`: one worker and one controller, at home in
one namespace, serve Executions of every namespace (what the chart runs with
`rbac.clusterWide=true`), and the CLI in another namespace hands its Executions to them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from kontinue.api import Execution
from tests.conftest import wait_for
from tests.kubernetes.conftest import Kube
from tests.kubernetes.test_orchestration import _ok

pytestmark = pytest.mark.slow


@pytest.fixture
def others(kube: Kube) -> Iterator[list[str]]:
    """Two more namespaces, deleted at the end."""
    names = [f"kt-{secrets.token_hex(4)}" for _ in range(2)]
    for name in names:
        kube.store.core.create_namespace({"metadata": {"name": name}})
    try:
        yield names
    finally:
        for name in names:
            kube.store.core.delete_namespace(name)


def _phase(kube: Kube, namespace: str, name: str) -> str:
    try:
        return kube.store.get(Execution, namespace, name).status.phase
    except Exception:
        return "absent"


def test_a_worker_and_a_controller_with_all_namespaces_serve_two_other_namespaces(
    kube: Kube, others: list[str]
) -> None:
    worker = kube.worker("worker-all", "-A")
    kube.start("controller-all", "controller", "-A", "--leader-lease", "3s")
    wait_for(lambda: "running" in kube.log("worker-all"), 60, "the worker")
    marks = kube.tmp / "marks.txt"
    for ns in others:
        # the CLI works in its own namespace and finds the worker serving every namespace
        out = _ok(
            kube.cli(
                "-n",
                ns,
                "execute",
                "kube-sleeper",
                "--name",
                "nap",
                "-a",
                "sleep=1",
                "-a",
                f"marks={marks}",
            )
        )
        assert "handed to a worker in the cluster" in out, out
    for ns in others:
        # the sleep was woken by the controller (-A), then finished by the worker (-A)
        wait_for(lambda ns=ns: _phase(kube, ns, "nap") == "Completed", 120, f"nap in {ns}")
        ex = kube.store.get(Execution, ns, "nap")
        assert ex.status.worker and f"-{worker.pid}-" in ex.status.worker, ex.status.worker
    assert sorted(marks.read_text().split("\n")[:-1]) == sorted(
        f"woke-nap pid={worker.pid}" for _ in others
    )
