"""Functions of two worker groups, for tests/core/test_worker_groups.py."""

from __future__ import annotations

from typing import Any

import kontinue


@kontinue.function("grp-alpha", worker_group="alpha")
def alpha(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    child = None
    if args.get("spawn"):
        child = kontinue.execute(ktx, "grp-beta", {}, opts=kontinue.ExecuteOptions(name="b"))
    return {"worker": ktx.execution().status.worker, "child": child}


@kontinue.function("grp-beta", worker_group="beta")
def beta(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    return {"worker": ktx.execution().status.worker}
