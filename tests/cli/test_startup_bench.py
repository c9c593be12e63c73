"""bench/cli_startup.py runs end to end and prints its figures (never asserted: machine-bound)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_cli_startup_bench_prints_figures_and_the_ratio(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "cli_startup.py"),
        "--quick",
        "--tmp-dir",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    for figure in (
        "python -c pass ms",
        "kontinue --help ms",
        "kontinue get ms",
        "kontinue list ms",
    ):
        assert re.search(rf"^{re.escape(figure)}: \d+$", proc.stdout, re.M), proc.stdout
    assert re.match(r"^ratio: \d+\.\d\d$", proc.stdout.strip().splitlines()[-1])
    assert not any(tmp_path.iterdir()), "the run left state behind"
