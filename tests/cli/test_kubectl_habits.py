"""kubectl habits: flags anywhere, -o, -l, --phase, -A, --sort-by, -w, delete -l, describe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CLI, KONTINUE, ROOT

FNS = str(Path(__file__).parent / "fns_sources.py")
GREET = str(ROOT / "tests" / "core" / "fns_cli.py")


def _three(cli: CLI) -> None:
    for name, ns in (("a", "default"), ("b", "default"), ("c", "team-x")):
        result = cli(
            "execute", "greet", "--import", GREET, "-a", "name=x", "--name", name, "-n", ns
        )
        assert result.returncode == 0, result.stderr
    assert cli("execute", "fan", "--import", FNS, "--name", "gated").returncode == 0


def test_global_flags_anywhere_and_output_formats(cli: CLI) -> None:
    _three(cli)
    # -n after the verb (and after a positional), as kubectl takes it
    only_x = cli("list", "-n", "team-x", "-o", "name")
    assert only_x.returncode == 0, only_x.stderr
    assert only_x.stdout.split() == ["execution.kontinue.cloud/c"]
    assert cli("get", "c", "-n", "team-x", "-o", "name").stdout.strip() == (
        "execution.kontinue.cloud/c"
    )
    everything = cli("list", "-A")
    lines = everything.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "NAME", "FUNCTION"]
    assert {ln.split()[1] for ln in lines[1:]} == {"a", "b", "c", "gated"}
    wide = cli("list", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "FUNCTION",
        "PHASE",
        "PROGRESS",
        "AGE",
        "DURATION",
        "ATTEMPT",
        "PARENT",
        "MESSAGE",
    ]
    doc = json.loads(cli("list", "-o", "json", "--phase", "suspended").stdout)
    assert [e["metadata"]["name"] for e in doc["items"]] == ["gated"]
    bad = cli("list", "--phase", "Sleeping")
    assert bad.returncode == 2 and "is not a phase" in bad.stderr
    by_phase = cli("list", "--sort-by", "phase", "-o", "name").stdout.split()
    assert by_phase[-1] == "execution.kontinue.cloud/gated"  # Completed < Suspended
    by_name_desc = cli("list", "--sort-by", ".metadata.name", "-o", "name").stdout.split()
    assert by_name_desc == sorted(by_name_desc)
    two = cli("get", "a", "b")
    assert [ln.split()[0] for ln in two.stdout.splitlines()] == ["NAME", "a", "b"]


def test_pipeline_labels_and_description_reach_the_execution(cli: CLI) -> None:
    result = cli(
        "submit",
        str(ROOT / "pipelines" / "build-test-deploy.yaml"),
        "-p",
        "service=shop",
        "--name",
        "btd",
        "--no-wait",
    )
    assert result.returncode == 0, result.stderr
    found = cli("list", "-l", "team=platform", "-o", "name")
    assert found.stdout.split() == ["execution.kontinue.cloud/btd"]
    doc = json.loads(cli("get", "btd", "-o", "json").stdout)
    assert doc["spec"]["description"].startswith("Build a service")
    described = cli("describe", "btd").stdout
    assert "team=platform" in described and "Description:  Build a service" in described


def test_describe_shows_steps_and_who_resumed_the_gate(cli: CLI) -> None:
    assert cli("execute", "fan", "--import", FNS, "--name", "f").returncode == 0
    assert cli("resume", "f", "suspend-1").returncode == 0
    out = cli("describe", "f").stdout
    assert "Phase:        Suspended" in out
    assert "suspend  suspend-1: resumed by " in out and "(kontinue resume)" in out
    assert "Gate 'suspend-1' opened" in out
    assert "Gate 'Approve kid' in f-execute-1 opened" in out
    assert "Children:\n  f-execute-1  kid  Suspended" in out


def test_delete_by_selector_asks_first(cli: CLI) -> None:
    _three(cli)
    refused = cli("delete", "--all")
    assert refused.returncode == 2
    assert "this would delete 3 Execution(s) in namespace default (a, b, gated)" in refused.stderr
    assert "pass --yes" in refused.stderr
    assert len(cli("list", "-o", "name").stdout.split()) == 3  # nothing was deleted
    neither = cli("delete")
    assert neither.returncode == 2 and "pass -l SELECTOR or --all" in neither.stderr
    gone = cli("delete", "--all", "--phase", "Completed", "--yes")
    assert gone.returncode == 0, gone.stderr
    names = cli("list", "-o", "name").stdout.split()
    assert names == ["execution.kontinue.cloud/gated"]
    assert cli("list", "-n", "team-x", "-o", "name").stdout.split() == [
        "execution.kontinue.cloud/c"
    ]
    missing = cli("delete", "gated", "nope")
    assert missing.returncode == 2 and "nope" in missing.stderr
    assert cli("list", "-o", "name").stdout.split() == names  # nothing deleted


def test_list_watch_prints_each_change(cli: CLI, state_dir: Path, tmp_path: Path) -> None:
    assert cli("execute", "fan", "--import", FNS, "--name", "w").returncode == 0
    watcher = subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), "list", "-w", "--sort-by", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        time.sleep(2.0)
        assert cli("resume", "w").returncode == 0
        time.sleep(2.0)
    finally:
        watcher.send_signal(2)
        out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].split()[0] == "NAME" and lines[1].split()[:3] == ["w", "fan", "Suspended"]
    later = [ln.split()[:3] for ln in lines[2:]]
    assert ["w-execute-1", "kid", "Suspended"] in later  # the child appeared
    assert sys.executable  # the watch ran as a real process


def _complete(state_dir: Path, tmp_path: Path, line: str) -> list[str]:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "KONTINUE_HOME": str(state_dir),
    }
    subprocess.run(
        [sys.executable, "-m", "kontinue"], env=env, capture_output=True, timeout=60, check=False
    )
    return [w.strip() for w in out.read_text().split("\x0b")] if out.exists() else []


def test_completion_of_verbs_flags_names_functions_and_steps(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    assert cli("execute", "fan", "--import", FNS, "--name", "fan1").returncode == 0
    assert "resume" in _complete(state_dir, tmp_path, "kontinue res")
    assert _complete(state_dir, tmp_path, "kontinue list --so") == ["--sort-by"]
    assert _complete(state_dir, tmp_path, "kontinue get fa") == ["fan1"]
    assert {"fan", "kid"} <= set(_complete(state_dir, tmp_path, "kontinue execute "))
    assert "suspend-1" in _complete(state_dir, tmp_path, "kontinue resume fan1 ")
