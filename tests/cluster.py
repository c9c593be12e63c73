"""Bring the test cluster (`scripts/cluster`) up once per test session, or reuse a given one.

Where the kubeconfig comes from, in order:

1. `$KONTINUE_TEST_KUBECONFIG`: a cluster someone else runs (used as it is);
2. the cluster directory `$KONTINUE_TEST_CLUSTER` (default `.cluster` at the top of the
   repository): when a cluster runs there it is reused; when none runs, it is started with
   `scripts/cluster up DIR` (about 5 s once the binaries are built) and stopped again at the
   end of the session if this session started it (`KONTINUE_TEST_KEEP_CLUSTER=1` keeps it).

Building the binaries takes minutes, so a session only builds them under `CI=true` or with
`KONTINUE_TEST_BUILD_CLUSTER=1`; otherwise it says how (`scripts/cluster up .cluster`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "cluster"

__all__ = ["ClusterUnavailable", "cluster_dir", "ensure_cluster", "stop_started_cluster"]

_started: list[Path] = []
_result: list[Path | ClusterUnavailable] = []

HOW = (
    "start it with `scripts/cluster up .cluster` (needs the Debian packages golang-go "
    "etcd-server dpkg-dev rsync openssl golang-github-modern-go-reflect2-dev; the first start "
    "builds kube-apiserver for about 5 minutes), or point KONTINUE_TEST_KUBECONFIG at the "
    "kubeconfig of a cluster that has the chart's CRDs"
)


class ClusterUnavailable(Exception):
    """No test cluster could be reached or started; the message says why and how to fix it."""


def cluster_dir() -> Path:
    return Path(os.environ.get("KONTINUE_TEST_CLUSTER") or ROOT / ".cluster")


def _binaries_built() -> bool:
    result = subprocess.run(
        [str(SCRIPT), "built"], capture_output=True, text=True, timeout=30, check=False
    )
    return result.returncode == 0


def _running(directory: Path) -> bool:
    if not (directory / "kubeconfig").is_file():
        return False
    result = subprocess.run(
        [str(SCRIPT), "status", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


def _start() -> Path:
    directory = cluster_dir()
    if _running(directory):
        return directory / "kubeconfig"
    missing = [c for c in ("etcd", "openssl", "setsid") if shutil.which(c) is None]
    if missing:
        raise ClusterUnavailable(f"no test cluster ({', '.join(missing)} not installed): {HOW}")
    may_build = os.environ.get("CI") == "true" or os.environ.get("KONTINUE_TEST_BUILD_CLUSTER")
    if not may_build and not _binaries_built():
        raise ClusterUnavailable(
            "no test cluster (kube-apiserver is not built yet; set KONTINUE_TEST_BUILD_CLUSTER=1 "
            f"to let the tests build it): {HOW}"
        )
    result = subprocess.run(
        [str(SCRIPT), "up", str(directory)],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )
    if result.returncode != 0:
        raise ClusterUnavailable(
            f"`scripts/cluster up {directory}` failed (exit {result.returncode}):\n"
            f"{result.stderr[-3000:]}"
        )
    _started.append(directory)
    return directory / "kubeconfig"


def ensure_cluster() -> Path:
    """The kubeconfig of a running test cluster, started if need be (once per process).

    Raises:
        ClusterUnavailable: none is given, none runs and none could be started.
    """
    if not _result:
        explicit = os.environ.get("KONTINUE_TEST_KUBECONFIG")
        try:
            if explicit:
                if not Path(explicit).is_file():
                    raise ClusterUnavailable(
                        f"KONTINUE_TEST_KUBECONFIG={explicit} is not a file: {HOW}"
                    )
                _result.append(Path(explicit))
            else:
                _result.append(_start())
        except ClusterUnavailable as exc:
            _result.append(exc)
    found = _result[0]
    if isinstance(found, ClusterUnavailable):
        raise found
    return found


def stop_started_cluster() -> None:
    """Stop the cluster this process started (not one it found running)."""
    if os.environ.get("KONTINUE_TEST_KEEP_CLUSTER"):
        return
    while _started:
        directory = _started.pop()
        subprocess.run(
            [str(SCRIPT), "down", str(directory)],
            capture_output=True,
            timeout=120,
            check=False,
        )
