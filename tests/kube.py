"""The test cluster (a real kube-apiserver, etcd and kube-controller-manager) for Kubernetes mode.

`scripts/cluster up DIR` starts one and writes `DIR/kubeconfig`. The tests find it through
`$KONTINUE_TEST_KUBECONFIG`, else `$KONTINUE_TEST_CLUSTER/kubeconfig`, else
`.cluster/kubeconfig` at the top of the repository. Without one the Kubernetes tests skip
with a message saying how to start it, except under `CI=true` (once `scripts/cluster` is in
the repository), where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["kubeconfig_path", "require_cluster"]


def kubeconfig_path() -> Path | None:
    """The test cluster's kubeconfig, if one is configured and exists."""
    explicit = os.environ.get("KONTINUE_TEST_KUBECONFIG")
    if explicit:
        return Path(explicit)
    cluster = os.environ.get("KONTINUE_TEST_CLUSTER")
    path = Path(cluster) / "kubeconfig" if cluster else ROOT / ".cluster" / "kubeconfig"
    return path if path.is_file() else None


def require_cluster() -> Path:
    """The kubeconfig of a reachable test cluster; skip (or fail under CI) without one."""
    path = kubeconfig_path()
    problem = None
    if path is None or not path.is_file():
        problem = "no test cluster"
    else:
        from kubernetes import client

        from kontinue.store import connect_kubernetes

        try:
            conn = connect_kubernetes(str(path))
            try:
                client.VersionApi(conn.api_client).get_code(_request_timeout=5)
            finally:
                conn.api_client.close()
        except Exception as exc:
            problem = f"the test cluster at {path} does not answer ({exc})"
    if problem is None:
        assert path is not None
        return path
    message = (
        f"{problem}: start one with `scripts/cluster up .cluster` (or point "
        "KONTINUE_TEST_KUBECONFIG at a kubeconfig) to run the Kubernetes tests"
    )
    if os.environ.get("CI") == "true" and (ROOT / "scripts" / "cluster").exists():
        pytest.fail(message)
    pytest.skip(message)
