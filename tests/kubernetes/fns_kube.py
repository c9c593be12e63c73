"""Functions the Kubernetes end-to-end tests import into `kontinue` worker processes."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import kontinue


def _mark(path: str, text: str) -> str:
    with Path(path).open("a") as fh:
        fh.write(f"{text} pid={os.getpid()}\n")
    return text


@kontinue.function("kube-steps", description="n slow steps, each noted in a file")
def kube_steps(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    done = []
    for i in range(int(args["n"])):

        def step(i: int = i) -> str:
            time.sleep(float(args.get("pause", 0.0)))
            return _mark(args["marks"], f"step-{i}")

        done.append(kontinue.store(ktx, step, kontinue.StoreOptions(name=f"step-{i}")))
    return {"steps": len(done)}


@kontinue.function("kube-child", description="a child: sleep, then a step")
def kube_child(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    kontinue.sleep(ktx, timedelta(seconds=float(args.get("sleep", 0.5))))
    kontinue.store(ktx, lambda: _mark(args["marks"], f"child-{args['i']}"))
    return {"i": args["i"]}


@kontinue.function("kube-fanout", description="fan out children that sleep, then a gate")
def kube_fanout(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    specs = [
        kontinue.ChildExecutionOptions(
            function="kube-child", arguments={"i": i, "marks": args["marks"], "sleep": 1.0}
        )
        for i in range(int(args["n"]))
    ]
    results = kontinue.execute_parallel(ktx, specs)
    if args.get("gate"):
        kontinue.suspend(ktx, kontinue.SuspendOptions(name="approve", display_name="Approve"))
    kontinue.store(ktx, lambda: _mark(args["marks"], "after"), kontinue.StoreOptions(name="after"))
    return {"children": sorted(r["i"] for r in results)}


@kontinue.function("kube-sleeper", description="sleep, then note it once")
def kube_sleeper(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.sleep(ktx, timedelta(seconds=float(args["sleep"])))
    return str(kontinue.store(ktx, lambda: _mark(args["marks"], f"woke-{ktx.name}")))


@kontinue.function("kube-script", description="run a script step as a Kubernetes Job")
def kube_script(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    result = kontinue.run_script(
        ktx,
        kontinue.ScriptOptions(
            name="say", image="alpine:3.20", command=args["command"], env={"WHO": args["who"]}
        ),
    )
    return {"exitCode": result.exit_code, "logs": result.logs(ktx)}


@kontinue.function("kube-mutex", description="hold a mutex while noting entry and exit")
def kube_mutex(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.store(ktx, lambda: _mark(args["marks"], f"enter-{ktx.name}"))
    kontinue.sleep(ktx, timedelta(seconds=0.5))
    kontinue.store(ktx, lambda: _mark(args["marks"], f"leave-{ktx.name}"))
    return "ok"


@kontinue.function("kube-alpha", description="runs in worker group alpha", worker_group="alpha")
def kube_alpha(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"pid": kontinue.store(ktx, os.getpid)}


@kontinue.function("kube-beta", description="runs in worker group beta", worker_group="beta")
def kube_beta(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"pid": kontinue.store(ktx, os.getpid)}
