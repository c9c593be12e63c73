"""The store contract (processes): compare-and-swap races and durability across processes."""

from __future__ import annotations

import signal

import pytest

from kontinue.api import Execution
from kontinue.store import Store
from tests.store import _children
from tests.store._backends import StoreTarget
from tests.store._objects import execution
from tests.store._processes import PROCESS_SECONDS, SPAWN, results, start


@pytest.mark.slow
def test_two_processes_racing_a_cas_update_exactly_one_wins(
    store: Store, target: StoreTarget
) -> None:
    rounds = 20
    store.create(execution("contended"))
    barrier = SPAWN.Barrier(2)
    racers = [start(_children.race, target, "contended", rounds, barrier) for _ in range(2)]

    outcomes = [list(results(*racer)) for racer in racers]

    assert [len(o) for o in outcomes] == [rounds, rounds]
    for round_, (first, second) in enumerate(zip(*outcomes, strict=True)):
        (r1, version1, outcome1), (r2, version2, outcome2) = first, second
        assert r1 == r2 == round_
        assert version1 == version2, f"round {round_}: the racers read different versions"
        assert sorted([outcome1, outcome2]) == ["conflict", "won"], f"round {round_}"
    final = store.get(Execution, "default", "contended")
    assert final.status.attempts == rounds  # exactly one increment landed per round
    assert final.status.message is not None and final.status.message.endswith(f"round {rounds - 1}")


@pytest.mark.slow
def test_concurrent_read_modify_write_with_retry_loses_no_update(
    store: Store, target: StoreTarget
) -> None:
    workers, times = 4, 25
    store.create(execution("counter"))
    barrier = SPAWN.Barrier(workers)
    children = [
        start(_children.increment, target, "counter", times, barrier) for _ in range(workers)
    ]

    reports = [report for child in children for report in results(*child)]

    written = sorted(value for values, _ in reports for value in values)
    assert written == list(range(1, workers * times + 1)), "two writers won the same version"
    final = store.get(Execution, "default", "counter")
    assert final.status.attempts == workers * times


@pytest.mark.slow
def test_an_acknowledged_write_survives_sigkill_of_the_writer(
    store: Store, target: StoreTarget
) -> None:
    writer, receive = start(_children.write_then_die, target, "durable")
    assert receive.poll(PROCESS_SECONDS), "the writer acknowledged nothing"
    acknowledged = receive.recv()
    receive.close()
    writer.join(PROCESS_SECONDS)
    assert writer.exitcode == -signal.SIGKILL

    [(stored, journal)] = list(results(*start(_children.read_back, target, "durable")))

    if target.backend == "sqlite":  # on Kubernetes the journal append is a later version
        assert stored["metadata"]["resourceVersion"] == acknowledged
    assert stored["status"]["phase"] == "Executing"
    assert stored["status"]["lease"]["holder"] == "doomed"
    assert journal == [{"seq": 0, "name": "step-1", "value": 42}]
