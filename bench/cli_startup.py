"""Time to first output of the CLI: `kontinue --help`, `list` and `get` with N Executions.

    python bench/cli_startup.py [--executions 1000] [--runs 7] [--quick]

Each command runs as a fresh process (as a user types it); the figures are wall-clock
medians. Beside them: the interpreter's own start-up (`python -c pass`), the floor no
Python CLI can go under, and the issue's goal of 150 ms for `kontinue list`. The last line
is `ratio: X.XX` = median `kontinue list` time / 150 ms (under 1.00 meets the goal).
`--importtime` also prints the ten slowest imports of `kontinue list` (python -X importtime).

Bytecode is cached (in the run's directory, PYTHONPYCACHEPREFIX) and warmed by one untimed
run, as after `pip install`: with PYTHONDONTWRITEBYTECODE set every run would compile the
sources again. Beside each wall time, the CPU time (user + system) of the process: on a
machine that others load, CPU time shows the program's own cost when wall time does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import _common

GOAL_MS = 150.0


def _fill(state: Path, count: int) -> str:
    from kontinue.runtime import start_execution
    from kontinue.store import open_store

    store = open_store(state, create=True)
    name = ""
    for i in range(count):
        name = start_execution(store, "bench.fn", {"i": i}, name=f"bench-{i:05d}").metadata.name
    store.close()
    return name


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(
    cmd: list[str], runs: int, env: dict[str, str]
) -> tuple[_common.Figures, _common.Figures]:
    """Wall and CPU seconds of `runs` fresh processes (after one untimed warm-up run)."""
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    seconds, cpu = [], []
    for _ in range(runs):
        cpu_before = _cpu()
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
        cpu.append(_cpu() - cpu_before)
    return _common.time_figures(seconds), _common.time_figures(cpu)


def _slowest_imports(cmd: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.removeprefix("import time:").split("|")
            rows.append((int(cumulative), name.rstrip()))
    top = [
        r
        for r in rows
        if r[1]
        .strip()
        .startswith(
            ("kontinue", "pydantic", "ruamel", "rich", "jinja2", "jsonschema", "kubernetes")
        )
    ]
    top.sort(reverse=True)
    return [f"  {us / 1000:8.1f} ms  {name.strip()}" for us, name in top[:10]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="50 Executions, 2 runs")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where the store goes")
    args = parser.parse_args()
    count, runs = (50, 2) if args.quick else (args.executions, args.runs)
    env = {**os.environ, "PYTHONPATH": str(_common.REPO_DIR)}
    env.pop("CI", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with _common.run_dir(args.tmp_dir, args.keep) as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        state = tmp / "state"
        last = _fill(state, count)
        base = [sys.executable, "-m", "kontinue", "--state-dir", str(state)]
        for note in _common.machine_notes(state):
            _common.say(note)
        floor, floor_cpu = _time([sys.executable, "-c", "pass"], runs, env)
        helped, helped_cpu = _time([*base, "--help"], runs, env)
        listed, listed_cpu = _time([*base, "list"], runs, env)
        got, got_cpu = _time([*base, "get", last], runs, env)
        _common.say(f"Executions in the store: {count}")
        for what, wall, cpu in (
            ("python -c pass", floor, floor_cpu),
            ("kontinue --help", helped, helped_cpu),
            ("kontinue get", got, got_cpu),
            ("kontinue list", listed, listed_cpu),
        ):
            _common.say(f"{what} ms: {wall.median * 1000:.0f}")
            _common.say(f"{what} cpu ms: {cpu.median * 1000:.0f}")
        _common.say(f"goal for kontinue list ms: {GOAL_MS:.0f}")
        if args.importtime:
            _common.say("slowest imports of kontinue list (cumulative):")
            for line in _slowest_imports([*base, "list"], env):
                _common.say(line)
        _common.say(f"ratio: {listed.median * 1000 / GOAL_MS:.2f}")


if __name__ == "__main__":
    main()
