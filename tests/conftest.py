"""Shared fixtures: a real state directory per test and a way to run the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KONTINUE = [sys.executable, "-m", "kontinue"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """An empty embedded-store directory."""
    path = tmp_path / "state"
    path.mkdir()
    return path


CLI = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(state_dir: Path, tmp_path: Path) -> CLI:
    """Run `kontinue --state-dir STATE ARGS...` as a real process; returns the result."""

    def run(
        *args: str, timeout: float = 120, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true"}
        return subprocess.run(
            [*KONTINUE, "--state-dir", str(state_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or tmp_path,
            env=env,
            check=False,
        )

    return run


def start_kontinue(state_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start `kontinue --state-dir STATE ARGS...` (a worker, a server) in its own session.

    Its own process group lets a test SIGKILL it alone, while the script processes the local
    runner started (sessions of their own) live on, as they would after a real crash.
    """
    return subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal a process started by `start_kontinue` and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(15)


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "it") -> None:
    """Poll `predicate` every 50 ms until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="session")
def kube_cluster() -> Path:
    """The kubeconfig of the test cluster (a real kube-apiserver; see tests/cluster.py).

    Started once per session when none runs; without one the test skips with a message saying
    how to enable it, except under CI=true, where that is a failure.
    """
    from tests.cluster import ClusterUnavailable, ensure_cluster

    try:
        return ensure_cluster()
    except ClusterUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


_CLUSTER_DIRS = ("tests/kubernetes/", "tests/helm/", "tests/testcluster/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`-n`, as `addopts` asks), every test that works with the test
    cluster runs on one worker, one after another: the store contract suite's clean-up wipes
    kontinue's resources in every namespace, and the cluster is one shared machine."""
    for item in items:
        path = Path(str(item.fspath)).relative_to(ROOT).as_posix()
        if (
            path.startswith(_CLUSTER_DIRS)
            or "kube_cluster" in getattr(item, "fixturenames", ())
            or "kubernetes" in item.nodeid.split("::")[-1]
        ):
            item.add_marker(pytest.mark.xdist_group("cluster"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from tests.cluster import stop_started_cluster

    stop_started_cluster()
