"""Functions the orchestration CLI tests import into `kontinue` processes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import kontinue


@kontinue.function("orch-cli-part", description="build one part (a short real sleep)")
def cli_part(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    kontinue.set_progress(ktx, 1, 2)
    kontinue.set_message(ktx, f"built {args['part']}")
    kontinue.sleep(ktx, timedelta(seconds=0.3))
    return {"part": args["part"]}


@kontinue.function("orch-cli-release", description="build two parts, tag, wait for approval")
def cli_release(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    specs = [
        kontinue.ChildExecutionOptions(function="orch-cli-part", arguments={"part": part})
        for part in ("api", "web")
    ]
    parts = kontinue.execute_parallel(ktx, specs)
    kontinue.store(ktx, lambda: "v1.2.3", kontinue.StoreOptions(name="tag", display_name="Tag"))
    kontinue.suspend(
        ktx, kontinue.SuspendOptions(name="approve", display_name="Approve production")
    )
    return {"parts": [p["part"] for p in parts], "approved": True}


@kontinue.function("orch-cli-flaky", description="a side effect, then fail the first attempt")
def cli_flaky(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    def mark() -> str:
        with Path(args["marks"]).open("a") as fh:
            fh.write("side effect\n")
        return "marked"

    kontinue.store(ktx, mark, kontinue.StoreOptions(name="side-effect"))
    if ktx.attempts() == 0:
        raise kontinue.new_non_retryable_error(None, "the database was read-only")
    return {"attempts": ktx.attempts()}


@kontinue.function("orch-cli-gate-child", description="wait for a manual gate")
def cli_gate_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.suspend(ktx, kontinue.SuspendOptions(name="gate"))
    return "through"


@kontinue.function("orch-cli-parent", description="run a child that waits at a gate")
def cli_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    result: str = kontinue.execute(ktx, "orch-cli-gate-child")
    return result


@kontinue.function("orch-cli-busy-child", description="work until canceled, reporting to a file")
def cli_busy_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    report = Path(args["report"])
    kontinue.store(ktx, lambda: report.write_text("started\n") and "started")
    scope = ktx.context()
    for _ in range(600):  # at most ~30 s
        if scope.wait(0.05):
            break
    with report.open("a") as fh:
        fh.write(f"cancelled={scope.cancelled()} reason={scope.reason}\n")
    try:
        kontinue.set_message(ktx, "still working")
    except kontinue.ErrCanceled as err:
        with report.open("a") as fh:
            fh.write(f"{type(err).__name__}: {err.message}\n")
        raise
    return "finished"


@kontinue.function("orch-cli-busy-parent", description="run a busy child")
def cli_busy_parent(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    result: str = kontinue.execute(ktx, "orch-cli-busy-child", args)
    return result
