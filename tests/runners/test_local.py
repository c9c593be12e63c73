"""The local runner with real processes: results, logs, deadlines, cancellation, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kontinue.runners import JobNotFoundError, LocalRunner, Runner, log_error_summary


def test_a_script_that_succeeds(jobs) -> None:
    record = jobs.run(jobs.script_request("ok", "echo hello"))

    assert record.phase == "Succeeded"
    assert (record.succeeded, record.failed, record.reason) == (1, 0, "")
    assert record.runner == "local"
    assert record.labels == {"kontinue.cloud/execution": "exec-1", "kontinue.cloud/step": "ok"}
    [pod] = record.pods
    assert pod.name == "ok-0" and pod.phase == "Succeeded" and pod.all_exited_zero
    assert pod.message == "image alpine:3.20 not pulled: ran locally"
    [container] = pod.containers
    assert (container.name, container.image, container.exit_code) == ("script", "alpine:3.20", 0)
    assert container.reason == "Completed"
    assert record.started_at is not None and record.finished_at is not None
    assert jobs.runner.logs("ok", "default") == "hello\n"
    assert isinstance(jobs.runner, Runner)


def test_a_script_that_fails_with_exit_code_3(jobs) -> None:
    record = jobs.run(jobs.script_request("fails", "echo working; echo 'error: disk full'; exit 3"))

    assert record.phase == "Failed"
    assert (record.succeeded, record.failed) == (0, 1)
    assert record.reason == "BackoffLimitExceeded"
    assert "container script exited with code 3" in record.message
    [pod] = record.pods
    assert pod.phase == "Failed" and not pod.all_exited_zero
    assert pod.containers[0].exit_code == 3 and pod.containers[0].reason == "Error"
    logs = jobs.runner.logs("fails", "default")
    assert log_error_summary(logs) == "error: disk full"


def test_stderr_goes_to_the_log_in_order(jobs) -> None:
    script = "echo to-out; echo to-err >&2; echo out-again; echo err-again >&2"
    jobs.run(jobs.script_request("streams", script))

    assert jobs.runner.logs("streams", "default") == "to-out\nto-err\nout-again\nerr-again\n"


def test_a_job_past_its_active_deadline_is_killed(jobs) -> None:
    request = jobs.script_request("slow", "sleep 30 & echo $!; wait", activeDeadlineSeconds=1)
    record = jobs.run(request)

    assert record.phase == "Failed"
    assert record.reason == "DeadlineExceeded"
    assert record.message == "Job was active longer than specified deadline"
    # The Job's deadline counts from the Job's start, as on Kubernetes: on a loaded machine
    # it can pass before the pod's container starts, and then the Job fails the same way
    # with nothing run. Whatever had started is killed (the pod deadline's test below
    # always reaches the kill of a running container).
    pid_file = jobs.job_dir("slow") / "slow-0" / "script.pid"
    if not pid_file.exists():
        assert all(p.containers[0].started_at is None for p in record.pods), record
        assert all(p.reason == "DeadlineExceeded" for p in record.pods), record
        assert record.failed == len(record.pods)
        return
    [pod] = record.pods
    assert record.failed == 1
    assert pod.phase == "Failed" and pod.reason == "DeadlineExceeded"
    assert pod.containers[0].exit_code == 128 + signal.SIGTERM
    group = jobs.container_pid("slow", "slow-0")
    jobs.wait_until(lambda: jobs.group_gone(group), "every process of the script to be gone")


def test_a_pod_past_its_active_deadline_is_killed_with_everything_it_started(jobs) -> None:
    # a pod's deadline counts from the pod's start: its container is running well before
    pod_spec = {
        "activeDeadlineSeconds": 3,
        "restartPolicy": "Never",
        "containers": [
            {
                "name": "script",
                "image": "alpine:3.20",
                "command": ["/bin/sh", "-c"],
                "args": ["sleep 30 & echo $!; wait"],
            }
        ],
    }
    jobs.runner.start(jobs.pod_request("late", pod_spec, backoffLimit=0))
    pid_file = jobs.job_dir("late") / "late-0" / "script.pid"
    jobs.wait_until(
        lambda: jobs.runner.logs("late", "default") != "" and pid_file.exists(),
        "the sleep's pid, and the runner's record of the container's process group",
    )
    group = jobs.container_pid("late", "late-0")
    sleeper = int(jobs.runner.logs("late", "default").split()[0])
    assert not jobs.group_gone(group) and not jobs.process_gone(sleeper)

    record = jobs.wait_finished("late")

    assert (record.phase, record.reason) == ("Failed", "DeadlineExceeded")
    assert record.message == "Pod was active on the node longer than the specified deadline"
    [pod] = record.pods
    assert pod.phase == "Failed" and pod.reason == "DeadlineExceeded"
    assert pod.containers[0].exit_code == 128 + signal.SIGTERM
    jobs.wait_until(lambda: jobs.group_gone(group), "every process of the pod to be gone")
    assert jobs.process_gone(sleeper)


def test_cancel_kills_the_process_group(jobs) -> None:
    jobs.runner.start(jobs.script_request("cancel-me", "sleep 30 & echo $!; wait"))
    jobs.wait_running("cancel-me")
    jobs.wait_until(lambda: jobs.runner.logs("cancel-me", "default") != "", "the sleep's pid")
    shell = jobs.container_pid("cancel-me", "cancel-me-0")
    sleeper = int(jobs.runner.logs("cancel-me", "default").split()[0])

    jobs.runner.cancel("cancel-me", "default")

    record = jobs.runner.poll("cancel-me", "default")
    assert record is not None
    assert (record.phase, record.reason) == ("Failed", "Canceled")
    assert record.pods[0].phase == "Failed"
    jobs.wait_until(lambda: jobs.process_gone(shell), "the script's shell to be gone")
    jobs.wait_until(lambda: jobs.process_gone(sleeper), "the script's sleep to be gone")
    jobs.runner.cancel("cancel-me", "default")  # a second cancel changes nothing
    assert jobs.runner.poll("cancel-me", "default") == record


def test_starting_twice_runs_once(jobs, tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    request = jobs.script_request("once", f"echo ran >> {marker}")

    first = jobs.runner.start(request)
    second = jobs.runner.start(request)
    record = jobs.wait_finished("once")

    assert first.name == second.name == "once"
    assert record.phase == "Succeeded" and len(record.pods) == 1
    assert jobs.runner.start(request) == record  # a finished job is returned, not re-run
    assert marker.read_text() == "ran\n"


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )


def test_processes_racing_to_start_the_same_job_run_it_once(jobs, tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    code = f"""
        from kontinue.runners import JobRequest, LocalRunner, job_spec_from_pod_spec
        from kontinue.runners import script_pod_spec
        spec = job_spec_from_pod_spec(script_pod_spec("alpine", "echo ran >> {marker}"))
        LocalRunner({str(jobs.state_dir)!r}).start(
            JobRequest(name="race", namespace="default", spec=spec))
        """
    racers = [_python(code) for _ in range(3)]
    assert [p.wait(timeout=30) for p in racers] == [0, 0, 0]

    assert jobs.wait_finished("race").phase == "Succeeded"
    assert marker.read_text() == "ran\n"


def test_a_job_survives_the_worker_that_started_it(jobs, tmp_path: Path) -> None:
    marker = tmp_path / "runs.txt"
    script = f"echo ran >> {marker}; sleep 1; echo finished"
    code = f"""
        import time
        from kontinue.runners import JobRequest, LocalRunner, job_spec_from_pod_spec
        from kontinue.runners import script_pod_spec
        spec = job_spec_from_pod_spec(script_pod_spec("alpine", {script!r}))
        LocalRunner({str(jobs.state_dir)!r}).start(
            JobRequest(name="takeover", namespace="default", spec=spec))
        print("started", flush=True)
        time.sleep(60)
        """
    worker = _python(code)
    assert worker.stdout is not None and worker.stdout.readline() == "started\n"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    # Another worker takes over: starting the job again finds it rather than re-running it.
    again = jobs.script_request("takeover", script)
    assert jobs.runner.start(again).name == "takeover"
    record = jobs.wait_finished("takeover")

    assert record.phase == "Succeeded" and len(record.pods) == 1
    assert jobs.runner.logs("takeover", "default") == "finished\n"
    assert marker.read_text() == "ran\n"


def test_a_dead_supervisor_fails_the_job(jobs) -> None:
    jobs.runner.start(jobs.script_request("orphan", "sleep 30"))
    jobs.wait_running("orphan")
    supervisor = json.loads((jobs.job_dir("orphan") / "supervisor.json").read_text())["pid"]
    shell = jobs.container_pid("orphan", "orphan-0")

    os.kill(supervisor, signal.SIGKILL)
    record = jobs.wait_finished("orphan")

    assert (record.phase, record.reason) == ("Failed", "SupervisorDied")
    assert record.message == "supervisor process died"
    assert record.pods[0].phase == "Failed" and record.failed == 1
    jobs.wait_until(lambda: jobs.process_gone(shell), "the orphaned container to be killed")
    assert jobs.runner.start(jobs.script_request("orphan", "sleep 30")) == record  # no restart


def test_init_containers_run_first_and_in_order(jobs, tmp_path: Path) -> None:
    order = tmp_path / "order.txt"

    def step(name: str) -> dict[str, object]:
        command = ["sh", "-c", f"echo {name} >> {order}"]
        return {"name": name, "image": "busybox", "command": command}

    pod = {"initContainers": [step("first"), step("second")], "containers": [step("main")]}
    record = jobs.run(jobs.pod_request("init", pod))

    assert record.phase == "Succeeded"
    assert order.read_text().split() == ["first", "second", "main"]
    assert [c.exit_code for c in record.pods[0].init_containers] == [0, 0]
    assert jobs.runner.logs("init", "default", container="first") == ""


def test_a_failing_init_container_stops_the_pod(jobs, tmp_path: Path) -> None:
    pod = {
        "initContainers": [
            {"name": "setup", "image": "busybox", "command": ["sh", "-c", "exit 4"]}
        ],
        "containers": [
            {"name": "main", "image": "busybox", "command": ["touch", str(tmp_path / "x")]}
        ],
    }
    record = jobs.run(jobs.pod_request("bad-init", pod))

    assert record.phase == "Failed"
    assert "init container setup exited with code 4" in record.pods[0].message
    assert record.pods[0].containers[0].exit_code is None
    assert not (tmp_path / "x").exists()


def test_containers_run_concurrently(jobs, tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    # `waiter` only finishes once `setter` has run, so they must run side by side.
    waiter = f"for i in $(seq 200); do [ -e {flag} ] && exit 0; sleep 0.05; done; exit 9"
    pod = {
        "containers": [
            {"name": "waiter", "image": "busybox", "command": ["sh", "-c", waiter]},
            {
                "name": "setter",
                "image": "busybox",
                "command": ["sh", "-c", f"touch {flag}; exit 2"],
            },
        ]
    }
    record = jobs.run(jobs.pod_request("pair", pod))

    assert [c.exit_code for c in record.pods[0].containers] == [0, 2]
    assert record.phase == "Failed"


def test_env_and_working_dir(jobs, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    pod = {
        "containers": [
            {
                "name": "script",
                "image": "alpine",
                "command": ["sh", "-c"],
                "args": ["echo \"$GREETING $TARGET\"; pwd; echo '$(GREETING) $$(TARGET)'"],
                "env": [
                    {"name": "GREETING", "value": "hello"},
                    {"name": "TARGET", "value": "$(GREETING)-world"},
                ],
                "workingDir": str(workdir),
            }
        ]
    }
    jobs.run(jobs.pod_request("env", pod))

    assert jobs.runner.logs("env", "default").splitlines() == [
        "hello hello-world",
        str(workdir),
        "hello $(TARGET)",
    ]


def test_backoff_limit_retries_the_pod(jobs) -> None:
    request = jobs.script_request("retry", "echo attempt $HOSTNAME; exit 1", backoffLimit=2)
    record = jobs.run(request)

    assert record.phase == "Failed" and record.reason == "BackoffLimitExceeded"
    assert (record.succeeded, record.failed) == (0, 3)
    assert [p.name for p in record.pods] == ["retry-0", "retry-1", "retry-2"]
    assert jobs.runner.logs("retry", "default") == "attempt retry-2\n"
    assert jobs.runner.logs("retry", "default", pod="retry-0") == "attempt retry-0\n"


def test_a_retry_that_succeeds(jobs, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    script = f"echo x >> {counter}; [ $(wc -l < {counter}) -ge 2 ]"
    record = jobs.run(jobs.script_request("flaky", script, backoffLimit=3))

    assert record.phase == "Succeeded"
    assert (record.succeeded, record.failed) == (1, 1)
    assert [p.phase for p in record.pods] == ["Failed", "Succeeded"]


def test_logs_tail_lines_and_follow(jobs) -> None:
    jobs.run(jobs.script_request("count", "seq 1 50"))
    runner: LocalRunner = jobs.runner

    assert runner.logs("count", "default", tail_lines=3) == "48\n49\n50\n"
    assert runner.logs("count", "default", tail_lines=0) == ""
    assert runner.logs("count", "default", tail_lines=500).count("\n") == 50
    assert list(runner.follow("count", "default", tail_lines=2)) == ["49", "50"]
    assert len(list(runner.follow("count", "default"))) == 50


def test_follow_streams_a_running_container(jobs) -> None:
    script = "for i in 1 2 3; do echo tick $i; sleep 0.2; done"
    jobs.runner.start(jobs.script_request("ticks", script))
    assert list(jobs.runner.follow("ticks", "default")) == ["tick 1", "tick 2", "tick 3"]


def test_specs_the_local_runner_cannot_run_fail_with_every_reason(jobs) -> None:
    pod = {
        "containers": [
            {"name": "app", "image": "nginx:1.27"},
            {
                "name": "side",
                "image": "busybox",
                "command": ["true"],
                "env": [
                    {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ],
            },
        ]
    }
    record = jobs.runner.start(jobs.pod_request("invalid", pod))

    assert (record.phase, record.reason) == ("Failed", "InvalidSpec")
    assert "'app' has no command: the local runner needs a command" in record.message
    assert "nginx:1.27 isn't pulled" in record.message
    assert "'TOKEN' uses valueFrom" in record.message
    assert jobs.runner.poll("invalid", "default") == record


def test_a_command_that_cannot_start(jobs, tmp_path: Path) -> None:
    pod = {"containers": [{"name": "script", "image": "x", "command": [str(tmp_path / "nope")]}]}
    record = jobs.run(jobs.pod_request("missing", pod))

    status = record.pods[0].containers[0]
    assert (status.exit_code, status.reason) == (128, "StartError")
    assert "No such file or directory" in jobs.runner.logs("missing", "default")


def test_unknown_jobs(jobs) -> None:
    assert jobs.runner.poll("nothing", "default") is None
    jobs.runner.cancel("nothing", "default")
    with pytest.raises(JobNotFoundError):
        jobs.runner.logs("nothing", "default")
    jobs.run(jobs.script_request("known", "true"))
    with pytest.raises(JobNotFoundError, match="has no pod other"):
        jobs.runner.logs("known", "default", pod="other")
    with pytest.raises(JobNotFoundError, match="has no container other"):
        jobs.runner.logs("known", "default", container="other")


def test_a_long_name_is_shortened_and_still_found(jobs) -> None:
    name = "step-" + "x" * 100
    record = jobs.run(jobs.script_request(name, "echo long"))

    assert len(record.name) <= 63 and record.name.startswith("step-xxx")
    assert jobs.runner.poll(name, "default") == jobs.runner.poll(record.name, "default")
    assert jobs.runner.logs(name, "default") == "long\n"


def test_delete_removes_the_job(jobs) -> None:
    jobs.run(jobs.script_request("gone", "true"))
    jobs.runner.delete("gone", "default")
    assert jobs.runner.poll("gone", "default") is None
