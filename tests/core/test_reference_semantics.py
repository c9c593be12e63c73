"""The Go reference's semantics, item by item (issue 8, section 3), on the real SQLite store.

Each test failed on the main of before issue 8; see the issue's note for how.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.runtime import Registry, start_execution
from kontinue.testing import Environment
from tests.conftest import CLI, ROOT

REG = Registry()
FAILS_ONCE: dict[str, int] = {}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path, registry=REG) as environment:
        yield environment


# -- resumptions -------------------------------------------------------------------------------


@kontinue.function("ref-two-sleeps", registry=REG)
def two_sleeps(ktx: kontinue.ExecutionContext, args: Any) -> int:
    kontinue.sleep(ktx, timedelta(minutes=1))
    kontinue.sleep(ktx, timedelta(minutes=1))
    return ktx.resumptions()


@kontinue.function("ref-fails-once", registry=REG)
def fails_once(ktx: kontinue.ExecutionContext, args: Any) -> int:
    if ktx.attempts() == 0:
        raise RuntimeError("first attempt fails")
    return ktx.resumptions()


def test_two_sleeps_on_one_worker_are_not_resumptions(env: Environment) -> None:
    ex = env.execute("ref-two-sleeps")
    assert ex.status.phase == "Completed"
    assert (ex.status.resumptions, ex.status.result) == (0, 0)


def test_a_retry_is_one_resumption(env: Environment) -> None:
    retry = kontinue.RetryOptions(retries=1, backoff=timedelta(seconds=1))
    ex = env.execute("ref-fails-once", retry=retry)
    assert ex.status.phase == "Completed"
    assert (ex.status.attempts, ex.status.resumptions, ex.status.result) == (1, 1, 1)
    # a crash and a takeover by another worker: tests/core/test_takeover.py (== 1)


# -- progress ----------------------------------------------------------------------------------


@kontinue.function("ref-leaf", registry=REG)
def leaf(ktx: kontinue.ExecutionContext, args: Any) -> str:
    return "ok"


@kontinue.function("ref-broken", registry=REG)
def broken(ktx: kontinue.ExecutionContext, args: Any) -> None:
    raise ValueError("broken child")


@kontinue.function("ref-gate", registry=REG)
def gate(ktx: kontinue.ExecutionContext, args: Any) -> None:
    kontinue.suspend(ktx, kontinue.SuspendOptions(name="approve"))


@kontinue.function("ref-fan-out", registry=REG)
def fan_out(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> Any:
    if args.get("clear_first"):
        kontinue.set_progress(ktx, 1, 3)
        kontinue.clear_progress(ktx)
    specs = [kontinue.ChildExecutionOptions(function=f) for f in args["children"]]
    return kontinue.execute_parallel(ktx, specs)


def test_execute_parallel_of_one_child_sets_one_of_one(env: Environment) -> None:
    ex = env.execute("ref-fan-out", {"children": ["ref-leaf"]})
    assert ex.status.phase == "Completed"
    assert ex.status.progress is not None
    assert (ex.status.progress.current, ex.status.progress.max) == (1, 1)


def test_after_clear_progress_a_later_fan_out_sets_progress_again(env: Environment) -> None:
    ex = env.execute("ref-fan-out", {"children": ["ref-leaf", "ref-leaf"], "clear_first": True})
    assert ex.status.phase == "Completed"
    assert ex.status.progress is not None
    assert (ex.status.progress.current, ex.status.progress.max) == (2, 2)


@pytest.mark.parametrize("broken_first", [True, False])
def test_a_failed_child_fails_the_fan_out_at_once_whatever_its_index(
    env: Environment, broken_first: bool
) -> None:
    children = ["ref-broken", "ref-gate"] if broken_first else ["ref-gate", "ref-broken"]
    gate = "fo-execute-2" if broken_first else "fo-execute-1"
    env.start("ref-fan-out", {"children": children}, name="fo")
    ended = env.engine.run_until(
        lambda: env.get("fo").terminal and env.get(gate).terminal, timeout=30
    )
    assert ended, "the fan-out waited for the gate instead of failing with its broken child"
    ex = env.get("fo")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None and ex.status.error.kind == "ChildFailed"
    assert "broken child" in ex.status.error.message
    # the sibling still waiting is canceled with its parent
    assert env.get(gate).status.phase == "Canceled"


# -- names, descriptions, log options ----------------------------------------------------------


@kontinue.function("ref-generated", registry=REG)
def generated(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> int:
    return int(kontinue.store(ktx, lambda: 1, kontinue.StoreOptions(generate_name=args["prefix"])))


def test_a_generate_name_that_breaks_dns_rules_fails_naming_it(env: Environment) -> None:
    assert env.execute("ref-generated", {"prefix": "fetch"}).status.phase == "Completed"
    ex = env.execute("ref-generated", {"prefix": "Fetch_Data"})
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == ("Validation", False)
    assert "'Fetch_Data'" in ex.status.error.message and "lowercase" in ex.status.error.message


def test_an_execution_name_that_breaks_dns_rules_is_refused(env: Environment, cli: CLI) -> None:
    for bad in ("Deploy", "deploy_1", "-deploy", "x" * 64):
        with pytest.raises(kontinue.Error, match="is not valid") as caught:
            start_execution(env.store, "ref-leaf", name=bad)
        assert repr(bad) in str(caught.value)
        assert caught.value.kind is kontinue.ErrorKind.VALIDATION
    result = cli("submit", str(ROOT / "pipelines/hello.yaml"), "--name", "Bad_Name")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "kontinue: error: Execution name 'Bad_Name' is not valid: use at most 63 lowercase "
        "letters, digits, '-' and '.', starting and ending with a letter or digit "
        "(Kubernetes' DNS rules)"
    ]


POLLS: list[int] = []


@kontinue.function("ref-poll", registry=REG)
def poll(ktx: kontinue.ExecutionContext, args: Any) -> None:
    opts = kontinue.PollOptions(
        name="ready", interval=timedelta(seconds=5), description="waits for the rollout"
    )
    kontinue.poll_until_named(ktx, lambda: bool(POLLS.append(1)) or len(POLLS) > 1, opts)


def test_description_is_kept_for_poll_steps(env: Environment) -> None:
    ex = env.execute("ref-poll")
    assert ex.status.phase == "Completed"
    (entry,) = [e for e in env.journal(ex.metadata.name) if e["name"] == "ready"]
    assert entry["description"] == "waits for the rollout"


def test_log_options_tail_lines_zero_means_the_reference_default() -> None:
    assert kontinue.LogOptions(tail_lines=0).tail_lines == 100
    assert kontinue.LogOptions().tail_lines == 100
    with pytest.raises(ValueError, match="0 or more"):
        kontinue.LogOptions(tail_lines=-1)


def test_create_f_checks_manifest_names_too(cli: CLI, tmp_path: Path) -> None:
    manifest = tmp_path / "ex.yaml"
    manifest.write_text(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Execution\n"
        "metadata: {name: Nightly_Build}\nspec: {function: nightly}\n"
    )
    result = cli("create", "-f", str(manifest), "--no-wait")
    assert result.returncode == 2
    assert "metadata.name 'Nightly_Build' is not valid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
