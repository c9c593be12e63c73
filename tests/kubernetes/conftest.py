"""Kubernetes end-to-end fixtures: a fresh namespace on the test cluster, and `kontinue`
processes (workers, controllers, the CLI) working in it with `--store kubernetes`."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kontinue.store import KubernetesStore, open_kubernetes_store
from tests.conftest import ROOT
from tests.kube import require_cluster

FNS = str(Path(__file__).resolve().parent / "fns_kube.py")


@dataclass
class Kube:
    """One test's namespace on the test cluster, and ways to run kontinue in it."""

    kubeconfig: str
    namespace: str
    tmp: Path
    store: KubernetesStore
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def argv(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kontinue",
            "--store",
            "kubernetes",
            "--kubeconfig",
            self.kubeconfig,
            "-n",
            self.namespace,
            *args,
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run one CLI command to its end."""
        return subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
            env=self.env(),
            check=False,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-lived kontinue process (its own session: a test may SIGKILL it)."""
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(
            self.argv(*args),
            cwd=self.tmp,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def worker(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        return self.start(name, "worker", "--import", FNS, "--lease-duration", "3s", *extra)

    def controller(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(name, "controller", "--leader-lease", "3s")

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Kube]:
    """A fresh namespace on the test cluster; its processes are stopped and it is deleted."""
    kubeconfig = str(require_cluster())
    namespace = f"kt-{secrets.token_hex(4)}"
    store = open_kubernetes_store(kubeconfig, namespace=namespace)
    store.core.create_namespace({"metadata": {"name": namespace}})
    k = Kube(kubeconfig, namespace, tmp_path, store)
    try:
        yield k
    finally:
        for process in k.processes:
            stop(process)
        try:
            store.core.delete_namespace(namespace)
        finally:
            store.close()


Wait = Callable[..., None]
