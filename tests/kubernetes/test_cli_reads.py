"""kubectl-style reads on the cluster: `kontinue get` without a name lists the Executions of
the namespace (filters included), as `kubectl get executions` does."""

from __future__ import annotations

from pathlib import Path

from tests.kubernetes.conftest import Kube

HELLO = str(Path(__file__).resolve().parents[2] / "pipelines" / "hello.yaml")


def test_get_without_a_name_lists_like_kubectl_get(kube: Kube) -> None:
    done = kube.cli("submit", HELLO, "--name", "greet-a", "-p", "name=a")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = kube.cli("get")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "FUNCTION", "PHASE"]
    names = {row.split()[0]: row.split()[2] for row in rows}
    assert names.get("greet-a") == "Completed", listed.stdout

    picked = kube.cli("get", "-l", "kontinue.cloud/pipeline=hello", "-o", "name")
    assert picked.returncode == 0, picked.stderr
    assert "execution.kontinue.cloud/greet-a" in picked.stdout.splitlines()
    none = kube.cli("get", "--phase", "Failed", "-o", "name")
    assert none.returncode == 0 and "greet-a" not in none.stdout, none.stdout + none.stderr

    one = kube.cli("get", "greet-a")  # a name still shows that one Execution
    assert one.returncode == 0 and one.stdout.splitlines()[1].split()[0] == "greet-a"


def test_controllers_say_which_one_leads_and_when_the_lease_moves(kube: Kube) -> None:
    import signal
    import time

    from tests.kubernetes.conftest import stop

    first, second = kube.controller("c1"), kube.controller("c2")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        leading = [n for n in ("c1", "c2") if "holds the leader lease" in kube.log(n)]
        if leading:
            break
        time.sleep(0.2)
    assert len(leading) == 1, (kube.log("c1"), kube.log("c2"))
    leader, other = (first, "c2") if leading == ["c1"] else (second, "c1")
    stop(leader, signal.SIGKILL)
    while time.monotonic() < deadline and "holds the leader lease" not in kube.log(other):
        time.sleep(0.2)
    assert "holds the leader lease" in kube.log(other), kube.log(other)
