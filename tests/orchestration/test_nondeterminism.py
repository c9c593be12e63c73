"""Replay that meets different steps fails loudly: ErrNonDeterminism and ErrDuplicateStep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import kontinue
from kontinue.runtime import Registry

from .conftest import EnvFactory, children, run_until

REG = Registry()
ORDER: dict[str, list[str]] = {"steps": ["fetch", "build"]}
KIND: dict[str, str] = {"second": "store"}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    ORDER["steps"] = ["fetch", "build"]
    KIND["second"] = "store"
    yield


@kontinue.function("orch-reorders", registry=REG)
def reorders(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    for step in ORDER["steps"]:
        kontinue.store(ktx, lambda: "value", kontinue.StoreOptions(name=step))
    kontinue.sleep(ktx, timedelta(minutes=5))
    return "done"


@kontinue.function("orch-changes-kind", registry=REG)
def changes_kind(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.store(ktx, lambda: 1)
    if KIND["second"] == "store":
        kontinue.store(ktx, lambda: 2, kontinue.StoreOptions(name="second"))
    else:
        kontinue.execute(ktx, "orch-leaf", opts=kontinue.ExecuteOptions(name="second"))
    kontinue.sleep(ktx, timedelta(minutes=5))
    return "done"


@kontinue.function("orch-leaf", registry=REG)
def leaf(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    return "leaf"


@kontinue.function("orch-duplicate", registry=REG)
def duplicate(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    kontinue.store(ktx, lambda: 1, kontinue.StoreOptions(name="same"))
    kontinue.sleep(ktx, timedelta(seconds=1))
    kontinue.store(ktx, lambda: 2, kontinue.StoreOptions(name="same"))
    return "unreachable"


@kontinue.function("orch-duplicate-children", registry=REG)
def duplicate_children(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> list[str]:
    opts = kontinue.ExecuteOptions(name="deploy")
    specs = [kontinue.ChildExecutionOptions(function="orch-leaf", options=opts)] * 2
    return kontinue.execute_parallel(ktx, specs)


def test_reordered_steps_raise_err_non_determinism_naming_everything(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    retry = kontinue.RetryOptions(retries=3, backoff=timedelta(seconds=1))
    env.start("orch-reorders", name="nd", retry=retry)
    run_until(env, lambda: env.get("nd").status.phase == "Suspended")
    ORDER["steps"] = ["build", "fetch"]  # the code changed while the Execution slept

    ex = env.run("nd")
    assert ex.status.phase == "Failed"
    error = ex.status.error
    assert error is not None
    assert (error.kind, error.retryable) == ("Validation", False)
    assert ex.status.attempts == 0  # not retried: a retry cannot fix it
    message = error.message
    assert 'Execution "nd" is not deterministic' in message
    assert "at step 1" in message
    assert 'recorded store "fetch"' in message
    assert 'asked for store "build"' in message
    assert "restore the code" in message  # and how to fix it
    # the journal is untouched: nothing was recorded past the mismatch
    assert [e["name"] for e in env.journal("nd")] == ["fetch", "build"]


def test_a_step_of_another_kind_at_the_same_name_is_non_determinism(
    make_env: EnvFactory,
) -> None:
    env = make_env(REG)
    env.start("orch-changes-kind", name="kind")
    run_until(env, lambda: env.get("kind").status.phase == "Suspended")
    KIND["second"] = "execute"

    ex = env.run("kind")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    message = ex.status.error.message
    assert 'Execution "kind" is not deterministic' in message
    assert "at step 2" in message
    assert 'recorded store "second"' in message and 'asked for spawn "second"' in message
    assert children(env, "kind") == []  # no child was started for the mismatched step


def test_a_step_name_used_twice_raises_err_duplicate_step(make_env: EnvFactory) -> None:
    env = make_env(REG)
    ex = env.execute("orch-duplicate", name="dup")
    assert ex.status.phase == "Failed"
    error = ex.status.error
    assert error is not None
    assert (error.kind, error.retryable) == ("Validation", False)
    assert 'step name "same" is used twice in Execution "dup"' in error.message
    assert "generate_name" in error.message  # the fix
    assert [e["name"] for e in env.journal("dup")] == ["same", "sleep-1"]

    ex = env.execute("orch-duplicate-children", name="dupkids")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert 'step name "deploy" is used twice in Execution "dupkids"' in ex.status.error.message
    assert [c.metadata.name for c in children(env, "dupkids")] == ["dupkids-deploy"]
