"""Errors keep their cause and their kind, through the journal and across retries.

Each test fails on the main of before issue 8 (see the issue's note for which failed how).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import kontinue
from kontinue.runtime import Registry
from kontinue.testing import Environment

REG = Registry()
SEEN: list[dict[str, Any]] = []


class QuotaError(Exception):
    """A user's own exception class, with a constructor of its own."""

    def __init__(self, tenant: str, used: int) -> None:
        super().__init__(f"tenant {tenant} used {used} of its quota")
        self.tenant = tenant


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    SEEN.clear()
    yield


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    with Environment(tmp_path, registry=REG) as environment:
        yield environment


def _describe(err: BaseException) -> dict[str, Any]:
    cause = err.__cause__
    return {
        "is_value_error": isinstance(err, ValueError),
        "is_quota_error": isinstance(err, QuotaError),
        "is_kontinue": isinstance(err, kontinue.Error),
        "text": str(err),
        "kind": kontinue.get_error_kind(err),
        "retryable": kontinue.is_retryable_error(err),
        "cause": None if cause is None else (type(cause).__name__, str(cause)),
        "cause_is_key_error": isinstance(cause, KeyError),
    }


def _bad_value() -> None:
    try:
        {}["region"]
    except KeyError as exc:
        raise ValueError("no region configured") from exc


@kontinue.function("chain-store-plain", registry=REG)
def store_plain(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    try:
        kontinue.store(ktx, _bad_value)
    except ValueError as err:  # must match on the first run and on replay alike
        SEEN.append(_describe(err))
    kontinue.sleep(ktx, timedelta(minutes=1))  # parks: the next run replays the store step
    return "done"


def test_store_reraises_the_users_type_first_and_a_faithful_typed_error_on_replay(
    env: Environment,
) -> None:
    ex = env.execute("chain-store-plain", name="s")
    assert ex.status.phase == "Completed", ex.status.error
    first, replayed = SEEN
    assert first["is_value_error"] and not first["is_kontinue"]  # the user's own exception
    assert replayed["is_value_error"] and replayed["is_kontinue"]  # typed, from the journal
    assert first["text"] == replayed["text"] == "no region configured"
    assert replayed["cause"] == ("KeyError", "'region'") and replayed["cause_is_key_error"]
    assert (replayed["kind"], replayed["retryable"]) == ("Execution", True)


@kontinue.function("chain-store-typed", registry=REG)
def store_typed(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> str:
    def fail() -> None:
        raise kontinue.new_non_retryable_error(QuotaError("acme", 12), "cannot reserve capacity")

    try:
        kontinue.store(ktx, fail)
    except kontinue.Error as err:
        cause_is_quota = isinstance(err.__cause__, QuotaError)
        SEEN.append({**_describe(err), "message": err.message, "cause_is_quota": cause_is_quota})
    kontinue.sleep(ktx, timedelta(minutes=1))
    return "done"


def test_a_kontinue_error_from_store_keeps_kind_retryable_and_typed_cause_on_replay(
    env: Environment,
) -> None:
    ex = env.execute("chain-store-typed", name="t")
    assert ex.status.phase == "Completed", ex.status.error
    first, replayed = SEEN
    for seen in (first, replayed):
        assert seen["message"] == "cannot reserve capacity"
        assert (
            seen["text"] == "cannot reserve capacity: QuotaError: tenant acme used 12 of its quota"
        )
        assert (seen["kind"], seen["retryable"]) == ("Execution", False)
        assert seen["cause_is_quota"]  # the user's class, loaded, is rebuilt (not imported)


@kontinue.function("chain-wrapped-non-retryable", registry=REG)
def wrapped(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> None:
    SEEN.append({"attempt": ktx.attempts()})
    if args["how"] == "from":
        raise RuntimeError("deploy failed") from kontinue.new_non_retryable_error(None, "bad spec")
    try:
        raise kontinue.Error("invalid manifest", kind=kontinue.ErrorKind.VALIDATION)
    except kontinue.Error:
        raise RuntimeError("deploy failed")  # noqa: B904 - implicit __context__ on purpose


@pytest.mark.parametrize("how", ["from", "context"])
def test_a_non_retryable_error_inside_another_is_not_retried(env: Environment, how: str) -> None:
    ex = env.execute(
        "chain-wrapped-non-retryable", {"how": how}, retry=kontinue.RetryOptions(retries=3)
    )
    assert ex.status.phase == "Failed"
    assert ex.status.attempts == 0 and len(SEEN) == 1  # not retried
    error = ex.status.error
    assert error is not None and error.retryable is False
    assert error.type == "RuntimeError"
    assert error.kind == ("Execution" if how == "from" else "Validation")
    assert error.message.startswith("RuntimeError: deploy failed: ")
    assert error.causes is not None and error.causes[0].retryable is False


def test_kind_and_retryable_follow_cause_and_context_chains() -> None:
    inner = kontinue.Error("quota", kind=kontinue.ErrorKind.VALIDATION)
    try:
        try:
            raise inner
        except kontinue.Error:
            raise KeyError("k")  # noqa: B904
    except KeyError as exc:
        outer: BaseException = exc
    assert kontinue.get_error_kind(outer) == "Validation"
    assert kontinue.is_retryable_error(outer) is False
    suppressed = ValueError("x")
    suppressed.__context__ = inner
    suppressed.__suppress_context__ = True  # `raise ... from None`
    assert kontinue.get_error_kind(suppressed) == ""
    assert kontinue.is_retryable_error(suppressed) is True


@kontinue.function("chain-user-kind", registry=REG)
def user_kind(ktx: kontinue.ExecutionContext, args: dict[str, Any]) -> None:
    SEEN.append({"attempt": ktx.attempts()})
    raise kontinue.Error(f"the {args['kind']} kind", kind=args["kind"])


@pytest.mark.parametrize(
    ("kind", "retried"),
    [("Validation", False), ("Internal", False), ("Infrastructure", True), ("Execution", True)],
)
def test_a_user_built_errors_retryability_follows_its_kind(
    env: Environment, kind: str, retried: bool
) -> None:
    assert kontinue.Error("x", kind=kind).retryable is retried
    retry = kontinue.RetryOptions(retries=2, backoff=timedelta(seconds=1))
    ex = env.execute("chain-user-kind", {"kind": kind}, retry=retry)
    assert ex.status.phase == "Failed"
    assert ex.status.attempts == (2 if retried else 0)
    assert ex.status.error is not None
    assert (ex.status.error.kind, ex.status.error.retryable) == (kind, retried)
