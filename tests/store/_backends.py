"""The store backends the contract suite runs on, and how a test (or a child process) opens one."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from contextlib import closing
from dataclasses import dataclass

import pytest

from kontinue.store import SQLiteStore, Store

__all__ = ["BACKENDS", "StoreTarget"]

# Every backend the contract suite runs on. "kubernetes" runs on the test cluster (a real
# kube-apiserver, etcd and kube-controller-manager; see tests/kube.py).
BACKENDS = ["sqlite", "kubernetes"]


@dataclass(frozen=True)
class StoreTarget:
    """Where one test's store lives. Plain and picklable, so child processes open the same one.

    `location` is the SQLite file, or the test cluster's kubeconfig.
    """

    backend: str
    location: str

    def open(self) -> Store:
        """A new client of this store (a new connection, in this process)."""
        if self.backend == "sqlite":
            return SQLiteStore(self.location)
        if self.backend == "kubernetes":
            from kontinue.store import open_kubernetes_store

            return open_kubernetes_store(self.location, namespace="default")
        raise ValueError(f"no store backend called {self.backend!r}")

    def forget_changes_through(self, version: str) -> None:
        """Make the backend drop its record of every change up to `version`, as its own
        compaction eventually does, so that a test can watch from a version no longer kept."""
        if self.backend == "kubernetes":
            # etcd's own compaction, through its HTTP gateway: revisions below the one given
            # are gone (a Kubernetes resourceVersion is an etcd revision, and a watch from
            # version V reads from revision V + 1).
            if int(version) >= int(_etcd_revision(self.location)):
                _bump_revision(self.location)  # compaction needs an existing revision
            request = urllib.request.Request(
                f"{_etcd_url(self.location)}/v3/kv/compaction",
                data=json.dumps({"revision": str(int(version) + 1), "physical": True}).encode(),
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                if b"has been compacted" not in exc.read():  # past it already: as good
                    raise
            return
        if self.backend != "sqlite":
            pytest.skip(f"the {self.backend} backend cannot be told to compact its changes")
        # A second, plain connection: the store's own code is not touched.
        with closing(sqlite3.connect(self.location, timeout=30)) as db, db:
            db.execute("DELETE FROM events WHERE rv <= ?", (int(version),))


def _etcd_url(kubeconfig: str) -> str:
    """The test cluster's etcd client URL (`scripts/cluster` serves it on 127.0.0.1)."""
    import os
    from pathlib import Path

    configured = os.environ.get("KONTINUE_TEST_ETCD_URL")
    if configured:
        return configured
    url_file = Path(kubeconfig).parent / "etcd-url"
    if url_file.is_file():
        return url_file.read_text().strip()
    ports = Path(kubeconfig).parent / "ports.env"
    if ports.is_file():
        for line in ports.read_text().splitlines():
            if line.startswith("ETCD_PORT="):
                return f"http://127.0.0.1:{line.split('=', 1)[1].strip()}"
    return "http://127.0.0.1:2379"


def _etcd_revision(kubeconfig: str) -> str:
    request = urllib.request.Request(
        f"{_etcd_url(kubeconfig)}/v3/maintenance/status", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["header"]["revision"])


def _bump_revision(kubeconfig: str) -> None:
    """One write outside kontinue's resources, so that `version + 1` exists to compact at."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kontinue.store import connect_kubernetes

    conn = connect_kubernetes(kubeconfig)
    try:
        core = client.CoreV1Api(conn.api_client)
        body = {"metadata": {"name": "kontinue-test-revision"}, "data": {"at": repr(object())}}
        try:
            core.replace_namespaced_config_map("kontinue-test-revision", "kube-public", body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespaced_config_map("kube-public", body)
    finally:
        conn.api_client.close()
