"""Found by trying the CLI as a new user: one SIGTERM ends a waiting command, and a malformed
`-l` selector is a usage error, not an internal one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, KONTINUE, ROOT

GREET = str(ROOT / "tests" / "core" / "fns_cli.py")


def _started(state_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*KONTINUE, "--state-dir", str(state_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("verb", [["watch", "p"], ["list", "-w"]])
def test_one_sigterm_ends_a_command_that_only_waits(
    cli: CLI, state_dir: Path, verb: list[str]
) -> None:
    # a Pending Execution nobody runs: `watch` follows it for ever, `list -w` too
    made = cli("execute", "greet", "--import", GREET, "-a", "name=x", "--name", "p", "--no-wait")
    assert made.returncode == 0, made.stderr
    waiter = _started(state_dir, *verb)
    try:
        time.sleep(3.0)  # past start-up: the command is waiting
        assert waiter.poll() is None, waiter.communicate()
        waiter.send_signal(signal.SIGTERM)  # once, as `timeout`, systemd and kubelet do
        _, err = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode == 143, err
    assert "stopped (SIGTERM)" in err and "Traceback" not in err
    assert cli("get", "p", "-o", "name").stdout.strip() == "execution.kontinue.cloud/p"


@pytest.mark.parametrize(
    "line",
    [["list", "-l", "==="], ["get", "-l", "a in ("], ["delete", "-l", "team!", "--yes"]],
)
def test_malformed_selector_is_a_usage_error(cli: CLI, line: list[str]) -> None:
    made = cli("execute", "greet", "--import", GREET, "-a", "name=x", "--name", "kept")
    assert made.returncode == 0, made.stderr
    result = cli(*line)
    assert result.returncode == 2, result.stderr
    assert "label selector" in result.stderr and "malformed" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert cli("list", "-o", "name").stdout.split() == ["execution.kontinue.cloud/kept"]


def test_get_lists_with_filters_as_kubectl_does(cli: CLI) -> None:
    for name, who in (("one", "x"), ("two", "y")):
        made = cli("execute", "greet", "--import", GREET, "-a", f"name={who}", "--name", name)
        assert made.returncode == 0, made.stderr
    assert cli("get", "-o", "name").stdout.split() == [
        "execution.kontinue.cloud/one",
        "execution.kontinue.cloud/two",
    ]
    assert cli("get", "--phase", "completed", "--sort-by", "name", "-o", "name").returncode == 0
    assert cli("get", "-l", "team=none").stdout.strip() == ""
    both = cli("get", "one", "-l", "team=none")
    assert both.returncode == 2 and "not both" in both.stderr
    # the one-Execution table counts attempts as `-o wide` and `describe` do: it ran once
    table = cli("get", "one").stdout.splitlines()
    row = dict(zip(table[0].split(), table[1].split(), strict=True))
    wide = cli("get", "one", "two", "-o", "wide").stdout.splitlines()
    wide_row = dict(zip(wide[0].split(), wide[1].split(), strict=False))
    assert row["ATTEMPTS"] == wide_row["ATTEMPT"] == "1"


def test_ctrl_c_of_a_foreground_submit_says_how_to_carry_on(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    from tests.cli._paste import hints, paste

    pipeline = tmp_path / "slow.yaml"
    pipeline.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: slow}\n"
        "steps:\n  - name: a\n"
        "    script: {image: alpine, command: 'echo start; sleep 4; echo done'}\n"
    )
    submit = _started(state_dir, "submit", str(pipeline), "--name", "slow", "--log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the script runs
            got = cli("get", "slow", "-o", "json")
            if got.returncode == 0 and "running script" in got.stdout:
                break
            time.sleep(0.5)
        submit.send_signal(signal.SIGINT)
        _, err = submit.communicate(timeout=60)
    finally:
        if submit.poll() is None:
            submit.kill()
            submit.communicate()
    assert submit.returncode == 130, err
    assert "Traceback" not in err
    pasted = hints(err)
    assert pasted == [f"kontinue resume slow --state-dir {state_dir}"], err
    carried = paste(pasted[0], tmp_path)
    assert carried.returncode == 0, carried.stderr
    assert "Completed" in cli("get", "slow").stdout


def test_resume_log_shows_only_what_runs_from_here_on(cli: CLI) -> None:
    pipeline = str(ROOT / "pipelines" / "build-test-deploy.yaml")
    first = cli("submit", pipeline, "-p", "service=shop", "--name", "btd", "--log")
    assert first.returncode == 0, first.stderr
    assert "building shop:1.0.0" in first.stderr + first.stdout
    resumed = cli("resume", "btd", "approve-production", "--log")
    assert resumed.returncode == 0, resumed.stderr
    shown = resumed.stderr + resumed.stdout
    assert "deploying shop to production with 3 replicas" in shown
    # the build and tests ran before this command: their output is not printed again
    assert "building shop" not in shown and "unit tests of shop pass" not in shown, shown
