"""`bench/k8s_steps.py` runs on the test cluster and ends with its ratio line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.kube import require_cluster

pytestmark = pytest.mark.slow


def test_k8s_steps_quick_prints_its_figures_and_ends_with_the_ratio() -> None:
    kubeconfig = require_cluster()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "k8s_steps.py"),
            "--quick",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            "kontinue-bench-smoke",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"^API requests per step: \d+\.\d+; CPU .* [\d.]+ ms", out, re.M), out
    assert re.search(r"^per-step cost: steps 1-100: [\d.]+ ms; steps 301-400: [\d.]+ ms", out, re.M)
    assert re.search(r"^replay read of 400 entries: \d+ requests$", out, re.M), out
    assert re.search(r"\nratio: \d+\.\d\d\n?$", out), out  # the last line
