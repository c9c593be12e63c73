"""The test cluster (a real kube-apiserver, etcd and kube-controller-manager) for Kubernetes mode.

`scripts/cluster up DIR` starts one and writes `DIR/kubeconfig`. The tests find it through
`$KONTINUE_TEST_KUBECONFIG`, else the cluster directory `$KONTINUE_TEST_CLUSTER` (default
`.cluster` at the top of the repository), started there once per session when it does not run
(tests/cluster.py). Without one the Kubernetes tests skip with a message saying how to start
it, except under `CI=true`, where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["kubeconfig_path", "require_cluster"]


def kubeconfig_path() -> Path | None:
    """The test cluster's kubeconfig: the one given, or one running (started if need be)."""
    from tests.cluster import ClusterUnavailable, ensure_cluster

    try:
        return ensure_cluster()
    except ClusterUnavailable:
        return None


def require_cluster() -> Path:
    """The kubeconfig of a reachable test cluster; skip (or fail under CI) without one.

    `tests.cluster.ensure_cluster` finds it or starts it once per session (see there).
    """
    from tests.cluster import ClusterUnavailable, ensure_cluster

    problem = None
    try:
        path = ensure_cluster()
    except ClusterUnavailable as exc:
        problem = str(exc)
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
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)
