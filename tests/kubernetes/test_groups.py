"""Worker groups on a real API server: a worker runs only the functions of its group; an
Execution of a group with no live worker waits for one (`--no-wait`), or runs in the CLI
process, as `kontinue execute` does whenever no worker in the cluster serves it."""

from __future__ import annotations

import pytest

from kontinue.api import Execution
from kontinue.runtime import GROUP_LABEL
from tests.conftest import wait_for
from tests.kubernetes.conftest import FNS, Kube, stop
from tests.kubernetes.test_orchestration import _ok, _phase

pytestmark = pytest.mark.slow


def _get(kube: Kube, name: str) -> Execution:
    return kube.store.get(Execution, kube.namespace, name)


def test_a_worker_runs_only_its_groups_functions_and_another_group_waits_for_its_worker(
    kube: Kube,
) -> None:
    alpha = kube.worker("worker-alpha", "--group", "alpha")
    kube.controller("controller-1")
    wait_for(lambda: "running" in kube.log("worker-alpha"), 60, "the alpha worker")
    log = kube.log("worker-alpha")
    assert "kube-alpha" in log and "kube-beta" not in log.split("running", 1)[1], log

    # beta has no live worker: --no-wait leaves it to one; the alpha worker never claims it
    _ok(kube.cli("execute", "kube-beta", "--name", "b1", "--no-wait"))
    assert _get(kube, "b1").metadata.labels[GROUP_LABEL] == "beta"
    # an alpha Execution created after it is handed to the alpha worker and finishes: the
    # alpha worker has seen b1 by then, and left it alone
    out = _ok(kube.cli("execute", "kube-alpha", "--name", "a1"))
    assert "handed to a worker in the cluster" in out
    wait_for(lambda: _phase(kube, "a1") == "Completed", 120, "the alpha Execution")
    assert _get(kube, "a1").status.result == {"pid": alpha.pid}
    b1 = _get(kube, "b1")
    assert b1.status.phase == "Pending" and b1.status.worker is None, b1.status

    # a beta worker comes: it takes b1 and runs it
    beta = kube.worker("worker-beta", "--group", "beta")
    wait_for(lambda: _phase(kube, "b1") == "Completed", 120, "the beta worker to run b1")
    assert _get(kube, "b1").status.result == {"pid": beta.pid}

    # with the beta worker gone, `execute kube-beta` runs it in the CLI process (the alpha
    # worker serves other functions, so nothing is handed to it)
    stop(beta)
    out = _ok(kube.cli("execute", "kube-beta", "--name", "b2", "--import", FNS, "-o", "json"))
    assert "handed to" not in out
    b2 = _get(kube, "b2")
    assert b2.status.phase == "Completed"
    assert b2.status.result["pid"] not in (alpha.pid, beta.pid)
