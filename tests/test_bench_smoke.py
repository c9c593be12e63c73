"""The benchmarks run end to end in `--quick` mode and print their summary lines.

Only the shape of the output is checked, never a time or a rate: those depend on the machine.
The DBOS half needs the `bench` extra; without `dbos` the scripts run with `--no-dbos`.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
HAVE_DBOS = importlib.util.find_spec("dbos") is not None
NUMBER = r"\d+(?:\.\d+)?"

SCRIPTS = {
    # script: the kontinue figure it always prints
    "steps.py": re.compile(rf"^kontinue steps/s: {NUMBER}$", re.M),
    "fanout.py": re.compile(rf"^kontinue fan-out seconds: {NUMBER}$", re.M),
}
RATIO = re.compile(r"^ratio: \d+\.\d\d$")


def _run(script: str, tmp_path: Path, *extra: str) -> str:
    cmd = [sys.executable, str(BENCH / script), "--quick", "--tmp-dir", str(tmp_path), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    shown = f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, shown
    return proc.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.skipif(not HAVE_DBOS, reason='dbos is not installed (pip install -e ".[bench]")')
def test_quick_run_with_dbos_ends_with_the_ratio(script: str, tmp_path: Path) -> None:
    out = _run(script, tmp_path)
    assert SCRIPTS[script].search(out), out
    last = out.strip().splitlines()[-1]
    assert RATIO.match(last), f"last line is {last!r}, not 'ratio: X.XX':\n{out}"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_run_without_dbos_prints_the_kontinue_figure(script: str, tmp_path: Path) -> None:
    out = _run(script, tmp_path, "--no-dbos")
    assert SCRIPTS[script].search(out), out
    assert not re.search(r"^ratio:", out, re.M), out
    assert not any(tmp_path.iterdir()), "the run left state behind"
