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
    "concurrent.py": re.compile(rf"^kontinue steps/s at \d+: {NUMBER}\nraw commits/s", re.M),
}
# scripts no peer runs: their own summary lines, no ratio
ALONE = {
    "history.py": re.compile(
        rf"^fan-out history/empty: {NUMBER}\nidle CPU history/empty: {NUMBER}\n"
        rf"RSS history/empty: {NUMBER}$",
        re.M,
    ),
    "replay.py": re.compile(
        rf"^replay of 1000 steps: {NUMBER} ms\nparked: {NUMBER} KiB each, \d+ threads$", re.M
    ),
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


def test_concurrent_ends_with_kontinue_over_raw_then_the_ratio(tmp_path: Path) -> None:
    if not HAVE_DBOS:
        pytest.skip('dbos is not installed (pip install -e ".[bench]")')
    lines = _run("concurrent.py", tmp_path).strip().splitlines()
    assert re.match(r"^kontinue/raw: \d+\.\d\d$", lines[-2]), lines[-2]
    assert RATIO.match(lines[-1]), lines[-1]


@pytest.mark.parametrize("script", sorted(ALONE))
def test_quick_run_of_a_script_without_peer_prints_its_figures(script: str, tmp_path: Path) -> None:
    out = _run(script, tmp_path)
    assert ALONE[script].search(out), out
    assert not re.search(r"^ratio:", out, re.M), out
    assert not any(tmp_path.iterdir()), "the run left state behind"


def test_fanout_across_two_processes_ends_with_the_ratio(tmp_path: Path) -> None:
    extra = ("--processes", "2") if HAVE_DBOS else ("--processes", "2", "--no-dbos")
    out = _run("fanout.py", tmp_path, *extra)
    assert re.search(r"^  kontinue: children ran in this many processes, per run: \[", out, re.M)
    assert SCRIPTS["fanout.py"].search(out), out
    if HAVE_DBOS:
        assert RATIO.match(out.strip().splitlines()[-1]), out
