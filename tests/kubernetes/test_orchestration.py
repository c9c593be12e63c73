"""Orchestration on a real API server: two workers and two controllers (one leader) in one
namespace, started as `kontinue --store kubernetes` processes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from kontinue.api import Execution, Suspension
from kontinue.store import NotFoundError
from tests.conftest import wait_for
from tests.kubernetes.conftest import Kube, stop

pytestmark = pytest.mark.slow


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


def _phase(kube: Kube, name: str) -> str:
    try:
        return kube.store.get(Execution, kube.namespace, name).status.phase
    except NotFoundError:
        return "Missing"


def _marks(path: Path) -> list[str]:
    return [line.split(" ")[0] for line in path.read_text().splitlines()] if path.exists() else []


def _cluster(kube: Kube) -> None:
    for i in (1, 2):
        kube.worker(f"worker-{i}")
        kube.controller(f"controller-{i}")
    wait_for(lambda: len(_live_workers(kube)) == 2, 60, "two workers to announce themselves")


def _live_workers(kube: Kube) -> list[tuple[str, str, list[str]]]:
    from kontinue.store._kubelease import live_workers

    return live_workers(kube.store, kube.namespace)


def _leader(kube: Kube) -> str | None:
    return kube.store.leader_lease("kontinue-controller", "probe", 3.0, kube.namespace).holder()


def test_fan_out_sleeps_a_gate_and_resume_with_two_workers_and_two_controllers(
    kube: Kube,
) -> None:
    _cluster(kube)
    marks = kube.tmp / "marks"
    out = _ok(
        kube.cli(
            "execute",
            "kube-fanout",
            "--name",
            "fan",
            "-a",
            "n=4",
            "-a",
            f"marks={marks}",
            "-a",
            "gate=true",
            "--no-wait",
        )
    )
    assert "fan" in out

    def gate_open() -> bool:
        gates = kube.store.list(Suspension, kube.namespace, {"kontinue.cloud/execution": "fan"})
        return _phase(kube, "fan") == "Suspended" and any(not g.status.resolved for g in gates)

    wait_for(gate_open, 90, "the approval gate")
    children = kube.store.list(Execution, kube.namespace, {"kontinue.cloud/parent": "fan"})
    assert len(children) == 4 and all(c.status.phase == "Completed" for c in children)
    # both workers took part, and no child step ran twice
    assert sorted(m for m in _marks(marks) if m.startswith("child-")) == [
        f"child-{i}" for i in range(4)
    ]

    _ok(kube.cli("resume", "fan", "--no-wait"))
    wait_for(lambda: _phase(kube, "fan") == "Completed", 90, "the fan-out to complete")
    ex = kube.store.get(Execution, kube.namespace, "fan")
    assert ex.status.result == {"children": [0, 1, 2, 3]}
    assert _marks(marks).count("after") == 1
    # kubectl-style reads
    listed = _ok(kube.cli("list"))
    assert "fan" in listed and "Completed" in listed


def test_a_sigkilled_worker_is_taken_over_within_the_lease_and_no_step_is_lost(
    kube: Kube,
) -> None:
    first = kube.worker("worker-1")
    kube.controller("controller-1")
    marks = kube.tmp / "marks"
    _ok(
        kube.cli(
            "execute",
            "kube-steps",
            "--name",
            "long",
            "-a",
            "n=30",
            "-a",
            "pause=0.1",
            "-a",
            f"marks={marks}",
            "--no-wait",
        )
    )
    wait_for(lambda: len(_marks(marks)) >= 5, 60, "some steps to run on the first worker")
    stop(first, signal.SIGKILL)
    killed_at = time.monotonic()
    kube.worker("worker-2")

    wait_for(lambda: _phase(kube, "long") == "Completed", 120, "the second worker to finish")
    ex = kube.store.get(Execution, kube.namespace, "long")
    assert ex.status.resumptions >= 1
    assert time.monotonic() - killed_at < 60
    ran = _marks(marks)
    assert sorted(set(ran), key=lambda m: int(m.split("-")[1])) == [f"step-{i}" for i in range(30)]
    # at most the one step in flight at the kill ran twice
    assert len(ran) - len(set(ran)) <= 1, ran
    journal = kube.store.read_journal(kube.namespace, "long")
    assert [e["name"] for e in journal] == [f"step-{i}" for i in range(30)]


def test_a_sigkilled_leader_controller_is_replaced_within_the_lease_and_timers_fire_once(
    kube: Kube,
) -> None:
    kube.worker("worker-1")
    controllers = {name: kube.controller(name) for name in ("controller-1", "controller-2")}
    wait_for(lambda: _leader(kube) is not None, 30, "a leader")
    leader = _leader(kube)
    assert leader is not None
    marks = kube.tmp / "marks"
    manifest = kube.tmp / "sleepers.yaml"
    manifest.write_text(
        "---\n".join(
            "apiVersion: kontinue.cloud/v1alpha1\nkind: Execution\n"
            f"metadata: {{name: sleeper-{i}}}\n"
            f"spec: {{function: kube-sleeper, arguments: {{sleep: 12, marks: '{marks}'}}}}\n"
            for i in range(5)
        )
    )
    _ok(kube.cli("create", "-f", str(manifest), "--no-wait"))
    wait_for(
        lambda: all(_phase(kube, f"sleeper-{i}") == "Suspended" for i in range(5)),
        60,
        "the sleepers to park",
    )
    killed = next(name for name, p in controllers.items() if str(p.pid) in leader)
    stop(controllers[killed], signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: _leader(kube) not in (None, leader), 30, "another controller to lead")
    assert time.monotonic() - killed_at < 3 * 2 + 2  # within the lease (3 s) and a renewal

    wait_for(
        lambda: all(_phase(kube, f"sleeper-{i}") == "Completed" for i in range(5)),
        60,
        "the sleepers to wake",
    )
    woke = _marks(marks)
    assert sorted(woke) == sorted(f"woke-sleeper-{i}" for i in range(5)), woke


def test_cancel_stops_a_running_execution_and_its_children(kube: Kube) -> None:
    _cluster(kube)
    marks = kube.tmp / "marks"
    _ok(
        kube.cli(
            "execute",
            "kube-steps",
            "--name",
            "doomed",
            "-a",
            "n=200",
            "-a",
            "pause=0.2",
            "-a",
            f"marks={marks}",
            "--no-wait",
        )
    )
    wait_for(lambda: len(_marks(marks)) >= 2, 60, "the steps to start")
    _ok(kube.cli("cancel", "doomed"))
    wait_for(lambda: _phase(kube, "doomed") == "Canceled", 30, "the cancel")
    count = len(_marks(marks))
    time.sleep(2)
    assert len(_marks(marks)) <= count + 1  # the step in flight may finish; no more start


def test_a_mutex_admits_one_execution_at_a_time(kube: Kube) -> None:
    _cluster(kube)
    marks = kube.tmp / "marks"
    manifest = kube.tmp / "mutex.yaml"
    docs = []
    for i in range(3):
        docs.append(
            "apiVersion: kontinue.cloud/v1alpha1\nkind: Execution\n"
            f"metadata: {{name: m-{i}}}\n"
            f"spec: {{function: kube-mutex, arguments: {{marks: '{marks}'}}, mutex: {{key: db}}}}\n"
        )
    manifest.write_text("---\n".join(docs))
    _ok(kube.cli("create", "-f", str(manifest), "--no-wait"))
    wait_for(lambda: all(_phase(kube, f"m-{i}") == "Completed" for i in range(3)), 120, "the three")
    events = _marks(marks)
    inside = 0
    for event in events:
        inside += 1 if event.startswith("enter-") else -1
        assert inside <= 1, events
