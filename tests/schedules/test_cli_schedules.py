"""Schedules, TTL clean-up and concurrency limits through the real CLI and real processes."""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kontinue.api import Execution, ScheduledExecution
from kontinue.runtime._schedules import SCHEDULE_LABEL, SCHEDULED_TIME_ANNOTATION
from kontinue.store import open_store

from ..conftest import CLI, ROOT, start_kontinue, stop, wait_for

FNS = str(Path(__file__).with_name("fns_sched_cli.py"))
HELLO = str(ROOT / "pipelines" / "hello.yaml")


def test_schedule_verbs_from_create_to_delete(cli: CLI) -> None:
    made = cli(
        "schedule", "create", "greet", "sched-cli-hello", "--cron", "*/10 * * * *",
        "--timezone", "Europe/Berlin", "--concurrency-policy", "Forbid", "-a", "name=ann",
        "--history-limit", "3", "--import", FNS,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "scheduledexecution.kontinue.cloud/greet created" in made.stdout
    assert "next run at" in made.stderr

    listed = cli("schedule", "list")
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[:4] == ["NAME", "SCHEDULE", "TIMEZONE", "FUNCTION"]
    assert row.split()[0] == "greet" and "Europe/Berlin" in row

    doc = json.loads(cli("schedule", "get", "greet", "-o", "json").stdout)
    assert doc["kind"] == "ScheduledExecution"
    assert doc["spec"] == {
        "schedule": "*/10 * * * *",
        "function": "sched-cli-hello",
        "arguments": {"name": "ann"},
        "historyLimit": 3,
        "suspend": False,
        "timezone": "Europe/Berlin",
        "concurrencyPolicy": "Forbid",
    }

    assert cli("schedule", "suspend", "greet").returncode == 0
    assert "suspended" in cli("schedule", "get", "greet").stdout.replace("Suspended:", "")
    assert json.loads(cli("schedule", "get", "greet", "-o", "json").stdout)["spec"]["suspend"]
    assert cli("schedule", "resume", "greet").returncode == 0

    # trigger: a run now, run in-process like submit (no server here)
    triggered = cli("schedule", "trigger", "greet", "--import", FNS)
    assert triggered.returncode == 0, triggered.stderr
    assert "hello ann" in triggered.stdout
    runs = json.loads(cli("list", "-l", f"{SCHEDULE_LABEL}=greet", "-o", "json").stdout)
    assert [r["status"]["phase"] for r in runs["items"]] == ["Completed"]
    assert runs["items"][0]["metadata"]["name"].startswith("greet-manual-")

    deleted = cli("schedule", "delete", "greet")
    assert deleted.returncode == 0
    assert "1 past run(s) are kept" in deleted.stderr
    missing = cli("schedule", "get", "greet")
    assert missing.returncode == 2
    assert "kontinue schedule list" in missing.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cron", "0 2 * *"], "is not a 5-field cron expression"),
        (["--cron", "0 25 * * *"], "is not a valid cron expression"),
        (["--cron", "0 2 * * *", "--timezone", "Mars/Olympus"], "is not an IANA time zone"),
        ([], "say when it runs: --cron"),
        (["--cron", "0 2 * * *", "--history-limit", "-1"], "--history-limit must be 0 or more"),
        (["--cron", "0 2 * * *", "--delete-after", "soon"], "--delete-after: 'soon' is not"),
    ],
)
def test_a_bad_schedule_is_refused_with_the_fix(cli: CLI, argv: list[str], message: str) -> None:
    result = cli("schedule", "create", "bad", "sched-cli-hello", *argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("schedule", "list").stderr.startswith("No schedules found")


def test_a_pipeline_schedule_is_validated_like_submit_and_pins_its_plan(
    cli: CLI, tmp_path: Path
) -> None:
    pipeline = tmp_path / "hello.yaml"
    pipeline.write_text(Path(HELLO).read_text())
    bad = cli("schedule", "create", "nightly", str(pipeline), "--cron", "0 2 * * *", "-p", "nam=x")
    assert bad.returncode == 2
    assert str(pipeline) in bad.stderr
    ok = cli("schedule", "create", "nightly", str(pipeline), "--cron", "0 2 * * *", "-p", "name=x")
    assert ok.returncode == 0, ok.stderr
    pipeline.write_text("this is not a pipeline any more: [")  # a later edit changes nothing
    run = cli("schedule", "trigger", "nightly")
    assert run.returncode == 0, run.stderr
    assert '"greeted": "x"' in run.stdout


def test_create_f_takes_the_original_platforms_scheduled_execution_manifest(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    manifest = tmp_path / "nightly.yaml"
    manifest.write_text(
        """\
apiVersion: kontinue.cloud/v1alpha1
kind: ScheduledExecution
metadata:
  name: nightly-tests
spec:
  schedule: "0 2 * * *"           # Run at 2am daily
  function: run-integration-tests
  arguments:
    environment: staging
    suite: full
  historyLimit: 10                # Keep last 10 executions
  executionDefaults:              # Defaults for spawned executions
    retry:
      retries: 2
      backoff: 30s
    ttl:
      deleteAfter: 24h
"""
    )
    result = cli("create", "-f", str(manifest))
    assert result.returncode == 0, result.stderr
    assert "scheduledexecution.kontinue.cloud/nightly-tests created" in result.stdout
    se = open_store(state_dir).get(ScheduledExecution, "default", "nightly-tests")
    assert se.spec.history_limit == 10 and not se.spec.suspend
    defaults = se.spec.execution_defaults
    assert defaults is not None and defaults.ttl is not None
    assert defaults.ttl.delete_after == timedelta(hours=24)
    broken = tmp_path / "broken.yaml"
    broken.write_text(manifest.read_text().replace('"0 2 * * *"', '"every night"'))
    refused = cli("create", "-f", str(broken))
    assert refused.returncode == 2
    assert "spec.schedule" in refused.stderr and "5-field cron" in refused.stderr


@pytest.mark.slow
def test_a_server_killed_as_a_schedule_fires_does_not_start_that_run_twice(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    made = cli(
        "schedule", "create", "tick", "sched-cli-work", "--cron", "* * * * *",
        "-a", f"marks={marks}", "-a", "seconds=0.2", "--import", FNS,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    store = open_store(state_dir)
    se = store.get(ScheduledExecution, "default", "tick")
    se.status.last_schedule_time = datetime.now(UTC) - timedelta(minutes=3)  # a tick is due
    store.update_status(se)

    def runs() -> list[Execution]:
        return store.list(Execution, "default", {SCHEDULE_LABEL: "tick"})

    server = start_kontinue(state_dir, "server", "--port", "0", "--import", FNS)
    try:
        wait_for(lambda: runs(), what="the schedule's first run")
    finally:
        stop(server, signal.SIGKILL)  # right as it fires: maybe before its status write
    first = runs()[0]
    due = first.metadata.annotations[SCHEDULED_TIME_ANNOTATION]
    server = start_kontinue(state_dir, "server", "--port", "0", "--import", FNS)
    try:
        wait_for(
            lambda: store.get(Execution, "default", first.metadata.name).terminal,
            what="the run to finish after the restart",
        )
        wait_for(
            lambda: (
                store.get(ScheduledExecution, "default", "tick").status.last_schedule_time
                is not None
                and store.get(ScheduledExecution, "default", "tick").status.last_schedule_time
                >= datetime.fromisoformat(due)
            ),
            what="the schedule's status to record the run",
        )
    finally:
        stop(server)
    by_time: dict[str, int] = {}
    for run in runs():
        at = run.metadata.annotations[SCHEDULED_TIME_ANNOTATION]
        by_time[at] = by_time.get(at, 0) + 1
    assert by_time[due] == 1, by_time
    assert all(count == 1 for count in by_time.values()), by_time
    assert store.get(Execution, "default", first.metadata.name).status.phase == "Completed"
    # the kill may land inside the run's step: that step runs again (at least once, as every
    # step in flight at a crash does), but inside the one Execution of that tick
    names = {line.split()[1] for line in marks.read_text().splitlines()}
    assert first.metadata.name in names
    assert len({n for n in names if n in {r.metadata.name for r in runs()}}) == len(names)


@pytest.mark.slow
def test_ttl_archives_then_deletes_through_the_cli(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "run.yaml"
    manifest.write_text(
        f"""\
apiVersion: kontinue.cloud/v1alpha1
kind: Execution
metadata:
  name: short-lived
spec:
  function: sched-cli-work
  arguments: {{marks: "{tmp_path / "marks.txt"}", seconds: 0}}
  ttl: {{archiveAfter: 1s, deleteAfter: 1h}}
---
apiVersion: kontinue.cloud/v1alpha1
kind: Execution
metadata:
  name: gone-soon
spec:
  function: sched-cli-work
  arguments: {{marks: "{tmp_path / "marks.txt"}", seconds: 0}}
  ttl: {{deleteAfter: 1s}}
"""
    )
    ran = cli("create", "-f", str(manifest), "--import", FNS)
    assert ran.returncode == 0, ran.stderr
    store = open_store(state_dir)
    controller = start_kontinue(state_dir, "controller")
    try:
        wait_for(lambda: not store.list(Execution, "default"), what="the Execution to be archived")
        listed = cli("list", "--archived")
        assert listed.returncode == 0
        assert "short-lived" in listed.stdout and "Completed" in listed.stdout
        shown = cli("get", "short-lived")
        assert shown.returncode == 0
        assert "ArchivedExecution" in shown.stdout
        assert "kontinue resubmit short-lived" in shown.stdout
        doc = json.loads(cli("get", "short-lived", "-o", "json").stdout)
        assert doc["spec"]["tree"]["journals"]["short-lived"], "the journal is in the archive"
        again = cli("resubmit", "short-lived", "--import", FNS, "--no-wait")
        assert again.returncode == 0, again.stderr
        new_name = again.stdout.strip()
        assert new_name.startswith("short-lived-")
    finally:
        stop(controller)
    resubmitted = store.get(Execution, "default", new_name)
    assert resubmitted.spec.function == "sched-cli-work"
    assert resubmitted.spec.ttl is not None
    missing = cli("resubmit", "nothing-here")
    assert missing.returncode == 2 and "kontinue list --archived" in missing.stderr


def _spans(marks: Path) -> list[tuple[str, float, float]]:
    enter: dict[str, float] = {}
    spans = []
    for line in marks.read_text().splitlines():
        what, name, at, _pid = line.split()
        if what == "enter":
            enter[name] = float(at)
        else:
            spans.append((name, enter.pop(name), float(at)))
    return sorted(spans, key=lambda s: s[1])


def _most_at_once(spans: list[tuple[str, float, float]]) -> int:
    events = sorted([(s, 1) for _, s, _ in spans] + [(e, -1) for _, _, e in spans])
    now = most = 0
    for _, delta in events:
        now += delta
        most = max(most, now)
    return most


def _run_all(
    cli: CLI,
    state_dir: Path,
    function: str,
    names: list[str],
    marks: Path,
    processes: list[list[str]],
    *extra: str,
    watch: Callable[[list[Execution]], None] | None = None,
) -> list[Execution]:
    """Create `names` (--no-wait), run `processes` until all ended; the Executions then."""
    for name in names:
        made = cli(
            "execute", function, "--name", name, "--no-wait",
            "-a", f"marks={marks}", "-a", "seconds=0.3", *extra,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    procs = [start_kontinue(state_dir, *argv) for argv in processes]
    store = open_store(state_dir)

    def done() -> bool:
        items = [store.get(Execution, "default", n) for n in names]
        if watch is not None:
            watch(items)
        return all(e.terminal for e in items)

    try:
        wait_for(done, what=f"all {len(names)} to finish")
    finally:
        for proc in procs:
            stop(proc)
    return [store.get(Execution, "default", n) for n in names]


TWO_WORKERS = [["worker", "--import", FNS], ["worker", "--import", FNS], ["controller"]]


@pytest.mark.slow
def test_a_mutex_across_two_worker_processes_never_overlaps_and_keeps_creation_order(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    names = [f"deploy-{i}" for i in range(5)]
    ended = _run_all(
        cli, state_dir, "sched-cli-work", names, marks, TWO_WORKERS, "--mutex", "deploy-prod"
    )
    assert [e.status.phase for e in ended] == ["Completed"] * 5
    spans = _spans(marks)
    assert [s[0] for s in spans] == names  # first come, first served
    assert _most_at_once(spans) == 1
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert end <= start


@pytest.mark.slow
def test_a_function_limit_of_two_never_has_three_running(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    names = [f"heavy-{i}" for i in range(6)]
    seen_waiting: list[str] = []

    def watch(items: list[Execution]) -> None:
        seen_waiting.extend(
            e.status.message for e in items if "free slot" in (e.status.message or "")
        )

    ended = _run_all(cli, state_dir, "sched-cli-limited", names, marks, TWO_WORKERS, watch=watch)
    assert [e.status.phase for e in ended] == ["Completed"] * 6
    assert _most_at_once(_spans(marks)) <= 2
    assert seen_waiting, "the ones beyond the limit said what they wait for"
    assert "concurrency limit 2" in seen_waiting[0]


def test_a_worker_with_concurrency_one_runs_one_function_at_a_time(
    cli: CLI, state_dir: Path, tmp_path: Path
) -> None:
    marks = tmp_path / "marks.txt"
    one = [["worker", "--import", FNS, "--concurrency", "1", "--with-controller"]]
    ended = _run_all(cli, state_dir, "sched-cli-work", [f"one-{i}" for i in range(3)], marks, one)
    assert [e.status.phase for e in ended] == ["Completed"] * 3
    assert _most_at_once(_spans(marks)) == 1


def test_a_schedule_block_in_the_pipeline_file_is_used_when_no_cron_is_given(
    cli: CLI, tmp_path: Path
) -> None:
    pipeline = tmp_path / "nightly.yaml"
    text = Path(HELLO).read_text()
    text = text.replace(
        "\nsteps:",
        '\nschedule: {cron: "30 2 * * *", timezone: Europe/Berlin, concurrencyPolicy: Forbid,'
        " historyLimit: 2}\nsteps:",
        1,
    )
    pipeline.write_text(text)
    assert cli("validate", str(pipeline)).returncode == 0
    made = cli("schedule", "create", "nightly", str(pipeline), "-p", "name=x")
    assert made.returncode == 0, made.stderr
    spec = json.loads(cli("schedule", "get", "nightly", "-o", "json").stdout)["spec"]
    assert (spec["schedule"], spec["timezone"]) == ("30 2 * * *", "Europe/Berlin")
    assert (spec["concurrencyPolicy"], spec["historyLimit"]) == ("Forbid", 2)
    # a flag wins over the block
    flagged = cli(
        "schedule", "create", "hourly", str(pipeline), "-p", "name=x", "--cron", "0 * * * *"
    )
    assert flagged.returncode == 0, flagged.stderr
    spec = json.loads(cli("schedule", "get", "hourly", "-o", "json").stdout)["spec"]
    assert spec["schedule"] == "0 * * * *"


def test_deleting_an_execution_removes_its_local_job_directories(cli: CLI, state_dir: Path) -> None:
    ran = cli("submit", HELLO, "-p", "name=x", "--name", "with-logs")
    assert ran.returncode == 0, ran.stderr
    jobs = state_dir / "jobs" / "default"
    assert any(jobs.iterdir()), "the script step left its job directory (and logs)"
    assert cli("logs", "with-logs").returncode == 0
    deleted = cli("delete", "with-logs")
    assert deleted.returncode == 0, deleted.stderr
    assert not any(jobs.iterdir())


def test_a_pipelines_mutex_is_rendered_over_its_params_and_held_by_its_execution(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    pipeline = tmp_path / "deploy.yaml"
    pipeline.write_text(
        """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: deploy}
params:
  type: object
  properties: {env: {type: string}}
  required: [env]
mutex: "deploy-{{ params.env }}"
steps:
  - {name: gate, suspend: {displayName: hold the mutex}}
"""
    )
    first = cli("submit", str(pipeline), "-p", "env=prod", "--name", "first")
    assert first.returncode == 0, first.stderr
    second = cli("submit", str(pipeline), "-p", "env=prod", "--name", "second", "--no-wait")
    assert second.returncode == 0, second.stderr
    store = open_store(state_dir)
    for name in ("first", "second"):
        mutex = store.get(Execution, "default", name).spec.mutex
        assert mutex is not None and mutex.name == "deploy-prod"
    # the first holds it at its gate; the second waits behind it and says so
    controller = start_kontinue(state_dir, "controller")
    try:
        wait_for(
            lambda: (store.get(Execution, "default", "second").status.message or "").startswith(
                "waiting for mutex deploy-prod held by first"
            ),
            what="the second to wait for the mutex",
        )
    finally:
        stop(controller)
    assert store.get(Execution, "default", "second").status.phase == "Pending"


def test_a_steps_mutex_runs_loop_items_one_at_a_time(
    cli: CLI, tmp_path: Path, state_dir: Path
) -> None:
    marks = tmp_path / "marks.txt"
    pipeline = tmp_path / "rollout.yaml"
    pipeline.write_text(
        """\
apiVersion: kontinue.cloud/v1alpha1
kind: Pipeline
metadata: {name: rollout}
params:
  type: object
  properties: {marks: {type: string}}
steps:
  - name: deploy
    forEach: [eu, us, ap]
    as: region
    mutex: "rollout-lock"
    script:
      image: alpine:3.20
      command: >-
        echo "enter $REGION $(date +%s.%N)" >> "$MARKS"; sleep 0.3;
        echo "exit $REGION $(date +%s.%N)" >> "$MARKS"
      env: {REGION: "{{ region }}", MARKS: "{{ params.marks }}"}
"""
    )
    assert cli("validate", str(pipeline)).returncode == 0
    ran = cli("submit", str(pipeline), "-p", f"marks={marks}", "--name", "roll")
    assert ran.returncode == 0, ran.stderr
    store = open_store(state_dir)
    held = [e.spec.mutex.name for e in store.list(Execution, "default") if e.spec.mutex is not None]
    assert held == ["rollout-lock"] * 3
    lines = [line.split() for line in marks.read_text().splitlines()]
    spans: dict[str, list[float]] = {}
    for _what, region, at in lines:
        spans.setdefault(region, []).append(float(at))
    ordered = sorted(spans.values())
    assert len(ordered) == 3
    for (_, end), (start, _) in itertools.pairwise(ordered):
        assert end <= start
