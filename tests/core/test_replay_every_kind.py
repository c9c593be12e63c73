"""A journal of every step kind, written by the code before journal entries were typed, replays.

`histories/every-kind.json` was recorded by main before the typed entries (commit 5c50a3a):
a store step that raised (its error recorded), two children and a `wait_any`, a `poll`, a
script job, a sleep and an approval gate. Today's code reads it as typed entries, replays
every step without running one again, and finishes the Execution; the typed entries give
back exactly the stored form. To record it anew (only on purpose, never in CI):
`KONTINUE_UPDATE_GOLDEN=1 pytest tests/core/test_replay_every_kind.py`.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import kontinue
import kontinue.api as api  # typed entries by attribute: the recorder runs on older code
from kontinue.runners import LocalRunner
from kontinue.runtime import Registry
from kontinue.testing import Environment

from ._histories import load_history, replay_past_the_gate

HISTORY = Path(__file__).parent / "histories" / "every-kind.json"
REGISTRY = Registry()
LIVE: list[str] = []
ARGS = {"n": 3}


@kontinue.function("kinds-child", registry=REGISTRY)
def kinds_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    LIVE.append(f"child:{args['i']}")
    return int(args["i"]) * 10


def _boom() -> str:
    LIVE.append("boom")
    raise ValueError("no stock left")


def _ready() -> bool:
    LIVE.append("poll")
    return True


@kontinue.function("kinds-flow", registry=REGISTRY)
def kinds_flow(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    try:
        kontinue.store(ktx, _boom)
        raised = ""
    except ValueError as exc:
        raised = str(exc)
    first = kontinue.spawn_execution(ktx, "kinds-child", {"i": 1})
    second = kontinue.spawn_execution(ktx, "kinds-child", {"i": 2})
    chosen, value, error = kontinue.wait_any(ktx, [first, second])
    kontinue.poll_until_named(
        ktx, _ready, kontinue.PollOptions(name="ready", interval=timedelta(seconds=5))
    )
    pod = kontinue.run_script(
        ktx,
        kontinue.ScriptOptions(
            name="greet", image="busybox", command="echo hello", display_name="Greet"
        ),
    )
    kontinue.sleep_named(ktx, kontinue.SleepOptions(name="nap", duration=timedelta(minutes=1)))
    gate = kontinue.suspend(ktx, kontinue.SuspendOptions(display_name="Approve"))
    LIVE.append("after-gate")
    return {
        "raised": raised,
        "chosen": chosen.name,
        "value": value,
        "error": error is not None,
        "exit": pod.exit_code,
        "by": gate["resolvedBy"],
    }


def _record(tmp: Path) -> None:
    with Environment(
        tmp / "record", registry=REGISTRY, runners={"local": LocalRunner(tmp / "jobs")}
    ) as env:
        ex = env.execute("kinds-flow", ARGS, name="kinds")
        assert ex.status.phase == "Suspended", ex.status.error
        HISTORY.write_text(json.dumps(env.journal("kinds"), indent=1) + "\n")


def test_every_kind_reads_as_its_own_model_and_back_to_the_stored_form() -> None:
    history = json.loads(HISTORY.read_text())
    typed = api.parse_journal(history)
    assert [type(e) for e in typed] == [
        api.StoreEntry,
        api.SpawnEntry,
        api.SpawnEntry,
        api.WaitEntry,
        api.PollEntry,
        api.JobEntry,
        api.SuspensionEntry,
    ]
    assert [e.wire() for e in typed] == history  # nothing added, dropped or renamed
    failed, *_, script, nap = typed
    assert (
        isinstance(failed, api.StoreEntry) and failed.error_message == "ValueError: no stock left"
    )
    assert isinstance(script, api.JobEntry) and script.kind == "script"
    assert not script.is_failure
    assert isinstance(nap, api.SuspensionEntry) and nap.kind == "sleep" and nap.resolved_by


def test_a_journal_of_every_kind_written_before_typing_replays(tmp_path: Path) -> None:
    if os.environ.get("KONTINUE_UPDATE_GOLDEN") and not os.environ.get("CI"):
        _record(tmp_path)
    history = json.loads(HISTORY.read_text())
    with Environment(tmp_path / "replay", registry=REGISTRY) as env:  # no runner: never asked
        load_history(env, history, "kinds-flow", "kinds", ARGS)
        stored = env.store.read_journal("default", "kinds")
        assert [e.wire() for e in env.store.read_entries("default", "kinds")] == stored

        done = replay_past_the_gate(env, "kinds", LIVE)
        assert LIVE == ["after-gate"]
        assert done.status.result == {
            "raised": "no stock left",
            "chosen": "kinds-execute-1",
            "value": 10,
            "error": False,
            "exit": 0,
            "by": "kontinue resume",
        }
        journal = env.store.read_journal("default", "kinds")
        assert journal[: len(history)] == history  # the old entries are as they were
        assert [e["kind"] for e in journal[len(history) :]] == ["suspend"]
