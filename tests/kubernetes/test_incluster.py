"""In-cluster configuration, for real: `kontinue` runs in pods of the test cluster, whose node
agent mounts the pod's service account token, the cluster's CA and its namespace at
`/var/run/secrets/kubernetes.io/serviceaccount` (the volume the API server's ServiceAccount
admission adds), with no kubeconfig. It finds the API server from KUBERNETES_SERVICE_HOST/PORT,
works in the pod's namespace, and acts as the service account under RBAC."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.kubernetes.conftest import Kube
from tests.kubernetes.test_orchestration import _ok

pytestmark = pytest.mark.slow


def _pod_log(kube: Kube, name: str, account: str, command: str) -> tuple[str, str]:
    """Run `command` (sh) in a pod as `account`; its phase and log."""
    from kubernetes.client.exceptions import ApiException

    core = kube.store.core
    pod = {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "serviceAccountName": account,
            "containers": [{"name": "c", "image": "kontinue", "command": ["sh", "-c", command]}],
        },
    }

    def created() -> bool:
        try:  # refused until the account's token Secret exists (the controller manager's)
            core.create_namespaced_pod(kube.namespace, pod)
        except ApiException as exc:
            return exc.status == 409
        return True

    wait_for(created, 60, f"pod {name} to be admitted")

    def phase() -> str:
        return str(core.read_namespaced_pod(name, kube.namespace).status.phase)

    wait_for(lambda: phase() in ("Succeeded", "Failed"), 120, f"pod {name}")
    return phase(), str(core.read_namespaced_pod_log(name, kube.namespace))


def test_kontinue_in_a_pod_uses_its_service_account_and_namespace(kube: Kube) -> None:
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(kube.store.api_client)
    ns = kube.namespace
    for account in ("reader", "nobody"):
        kube.store.core.create_namespaced_service_account(ns, {"metadata": {"name": account}})
    rbac.create_namespaced_role(
        ns,
        {
            "metadata": {"name": "read-executions"},
            "rules": [
                {
                    "apiGroups": ["kontinue.cloud"],
                    "resources": ["executions"],
                    "verbs": ["get", "list"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "read-executions",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
    )
    _ok(kube.cli("execute", "kube-sleeper", "--name", "seen", "--no-wait", "-a", "sleep=1"))

    # no -n, no kubeconfig: the namespace and the identity come from the mounted account
    phase, log = _pod_log(
        kube,
        "reader",
        "reader",
        'test -z "$KUBECONFIG" && kontinue --store kubernetes get seen -o json',
    )
    assert phase == "Succeeded", log
    assert '"name": "seen"' in log and f'"namespace": "{ns}"' in log, log

    # an account without the Role is refused by the API server: a clear error, no traceback
    phase, log = _pod_log(kube, "nobody", "nobody", "kontinue --store kubernetes get seen")
    assert phase == "Failed", log
    assert f"system:serviceaccount:{ns}:nobody" in log and "forbids" in log, log
    assert "Traceback" not in log, log
