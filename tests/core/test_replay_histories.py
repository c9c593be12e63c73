"""Recorded journals replay on today's code: a change that would break live Executions fails here.

Each history in `histories/` was recorded by running `order-flow` up to its approval gate.
The test loads it into a fresh store as the journal of a parked Execution and lets the
current code finish it: every recorded step must be read back, none run again. To record
them anew (only on purpose, never in CI): `KONTINUE_UPDATE_GOLDEN=1 pytest tests/core`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.api import Execution
from kontinue.runtime import Registry
from kontinue.testing import Environment

from ._histories import load_history, replay_past_the_gate

HISTORIES = Path(__file__).parent / "histories"
REGISTRY = Registry()
LIVE: list[str] = []


@kontinue.function("order-item", registry=REGISTRY)
def order_item(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    LIVE.append(f"item:{args['sku']}")
    return {"sku": args["sku"], "reserved": True}


@kontinue.function("order-flow", registry=REGISTRY)
def order_flow(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    order_id = kontinue.store(ktx, lambda: LIVE.append("id") or f"order-{args['n']}")
    kontinue.set_message(ktx, f"reserving {order_id}")
    items = kontinue.execute_parallel(
        ktx,
        [
            kontinue.ChildExecutionOptions(function="order-item", arguments={"sku": sku})
            for sku in args["skus"]
        ],
    )
    kontinue.sleep_named(
        ktx, kontinue.SleepOptions(name="cool-down", duration=timedelta(minutes=5))
    )
    total = kontinue.store_named(
        ktx, kontinue.StoreOptions(generate_name="price-"), lambda: LIVE.append("price") or 42
    )
    kontinue.suspend(ktx, kontinue.SuspendOptions(display_name="Approve order"))
    receipt = kontinue.store(ktx, lambda: LIVE.append("receipt") or "sent")
    return {"order": order_id, "items": items, "total": total, "receipt": receipt}


ARGS = {"n": 7, "skus": ["a-1", "b-2"]}


def _record(path: Path, tmp: Path) -> None:
    with Environment(tmp / "record", registry=REGISTRY) as env:
        ex = env.execute("order-flow", ARGS, name="order")
        assert ex.status.phase == "Suspended"
        path.write_text(json.dumps(env.journal("order"), indent=1) + "\n")


def test_a_recorded_history_replays_without_rerunning_steps(tmp_path: Path) -> None:
    path = HISTORIES / "order-flow.json"
    if os.environ.get("KONTINUE_UPDATE_GOLDEN") and not os.environ.get("CI"):
        _record(path, tmp_path)
    history = json.loads(path.read_text())
    assert [e["kind"] for e in history][:4] == ["store", "spawn", "spawn", "wait"]

    with Environment(tmp_path / "replay", registry=REGISTRY) as env:
        load_history(env, history, "order-flow", "order", ARGS)

        done = replay_past_the_gate(env, "order", LIVE)
        assert LIVE == ["receipt"]
        assert done.status.result == {
            "order": "order-7",
            "items": [{"sku": "a-1", "reserved": True}, {"sku": "b-2", "reserved": True}],
            "total": 42,
            "receipt": "sent",
        }


@pytest.mark.parametrize("drop", ["cool-down", "execute-2", "store-1"])
def test_a_history_that_does_not_match_the_code_is_refused(tmp_path: Path, drop: str) -> None:
    history = [
        e for e in json.loads((HISTORIES / "order-flow.json").read_text()) if e["name"] != drop
    ]
    for seq, entry in enumerate(history):
        entry["seq"] = seq
    with Environment(tmp_path, registry=REGISTRY) as env:
        load_history(env, history, "order-flow", "order", ARGS)
        failed: Execution = env.run("order")
        assert failed.status.phase == "Failed"
        assert failed.status.error is not None
        assert "is not deterministic" in failed.status.error.message
