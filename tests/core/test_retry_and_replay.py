"""Retries keep completed steps; replay returns recorded results and re-raises recorded errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import kontinue
from kontinue.runtime import Registry
from kontinue.testing import Environment


@pytest.fixture
def registry() -> Registry:
    return Registry()


def test_fails_twice_then_succeeds_with_three_retries(tmp_path: Path, registry: Registry) -> None:
    calls: list[str] = []

    @kontinue.function("flaky", retry=kontinue.RetryOptions(retries=3), registry=registry)
    def flaky(ktx: kontinue.ExecutionContext, args: dict) -> dict:
        first = kontinue.store(ktx, lambda: calls.append("first") or "first-value")
        if ktx.attempts() < 2:
            raise RuntimeError(f"transient failure in attempt {ktx.attempts() + 1}")
        second = kontinue.store(ktx, lambda: calls.append("second") or "second-value")
        return {"first": first, "second": second}

    with Environment(tmp_path, registry=registry) as env:
        ex = env.execute("flaky")
        assert ex.status.phase == "Completed"
        assert ex.status.attempts == 2
        assert ex.status.result == {"first": "first-value", "second": "second-value"}
        assert calls == ["first", "second"]  # the completed step was not re-run
        assert ex.status.resumptions == 2  # each retry is a take-over of a started Execution


def test_backoff_phase_between_attempts(tmp_path: Path, registry: Registry) -> None:
    @kontinue.function(
        "always-fails",
        retry=kontinue.RetryOptions(retries=1, backoff=timedelta(minutes=10)),
        registry=registry,
    )
    def always_fails(ktx: kontinue.ExecutionContext, args: dict) -> None:
        raise ValueError("nope")

    with Environment(tmp_path, registry=registry) as env:
        ex = env.start("always-fails")
        env.engine.run_until(lambda: env.get(ex.metadata.name).status.phase == "Backoff")
        backing_off = env.get(ex.metadata.name)
        assert backing_off.status.error is not None
        assert "ValueError: nope" in backing_off.status.error.message
        assert backing_off.status.backoff_until == env.clock.now() + timedelta(minutes=10)
        done = env.run(ex.metadata.name)
        assert done.status.phase == "Failed"
        assert done.status.attempts == 1
        assert done.status.finish_time is not None


def test_non_retryable_error_is_not_retried(tmp_path: Path, registry: Registry) -> None:
    @kontinue.function("bad-config", retry=kontinue.RetryOptions(retries=5), registry=registry)
    def bad_config(ktx: kontinue.ExecutionContext, args: dict) -> None:
        raise kontinue.new_non_retryable_error(KeyError("region"), "invalid configuration")

    with Environment(tmp_path, registry=registry) as env:
        ex = env.execute("bad-config")
        assert ex.status.phase == "Failed"
        assert ex.status.attempts == 0
        assert ex.status.error is not None
        assert ex.status.error.retryable is False
        # the message shows the chain, as Go's err.Error() does; the cause is kept typed
        assert ex.status.error.message == "invalid configuration: KeyError: 'region'"
        assert ex.status.error.causes is not None
        (cause,) = ex.status.error.causes
        assert (cause.type, cause.message, cause.kind) == ("KeyError", "'region'", "Execution")


def test_recorded_error_is_reraised_on_replay_not_rerun(tmp_path: Path, registry: Registry) -> None:
    calls: list[int] = []

    @kontinue.function("remembers-error", registry=registry)
    def remembers_error(ktx: kontinue.ExecutionContext, args: dict) -> dict:
        def boom() -> None:
            calls.append(1)
            raise kontinue.new_retryable_error(None, "the API said 503")

        try:
            kontinue.store(ktx, boom)
        except kontinue.Error as err:
            caught = err.message
        kontinue.sleep(ktx, timedelta(hours=1))  # park: the next run replays from the top
        return {"caught": caught}

    with Environment(tmp_path, registry=registry) as env:
        ex = env.execute("remembers-error")
        assert ex.status.phase == "Completed"
        assert ex.status.result == {"caught": "the API said 503"}
        assert calls == [1]


def test_typed_arguments_and_results(tmp_path: Path, registry: Registry) -> None:
    from pydantic import BaseModel

    class DeployArgs(BaseModel):
        service: str
        replicas: int = 2

    class DeployResult(BaseModel):
        url: str

    @kontinue.function("deploy", registry=registry)
    def deploy(ktx: kontinue.ExecutionContext, args: DeployArgs) -> DeployResult:
        url = kontinue.store(
            ktx, lambda: DeployResult(url=f"https://{args.service}"), result_type=DeployResult
        )
        assert isinstance(url, DeployResult)
        return DeployResult(url=f"{url.url}/x{args.replicas}")

    with Environment(tmp_path, registry=registry) as env:
        ex = env.execute("deploy", {"service": "api"})
        assert ex.status.result == {"url": "https://api/x2"}
        bad = env.execute("deploy", {"replicas": "many"})
        assert bad.status.phase == "Failed"
        assert bad.status.error is not None
        assert bad.status.error.kind == "Validation"
        assert "service" in bad.status.error.message and "replicas" in bad.status.error.message


def test_step_names_explicit_generated_and_default(tmp_path: Path, registry: Registry) -> None:
    @kontinue.function("names", registry=registry)
    def names(ktx: kontinue.ExecutionContext, args: dict) -> None:
        kontinue.store(ktx, lambda: 1)
        kontinue.store_named(ktx, kontinue.StoreOptions(name="order-id"), lambda: 2)
        kontinue.store_named(ktx, kontinue.StoreOptions(generate_name="fetch-"), lambda: 3)
        kontinue.store_named(ktx, kontinue.StoreOptions(generate_name="fetch-"), lambda: 4)
        kontinue.store(ktx, lambda: 5)
        kontinue.store_named(ktx, kontinue.StoreOptions(name="order-id"), lambda: 6)

    with Environment(tmp_path, registry=registry) as env:
        ex = env.execute("names")
        assert [e["name"] for e in env.journal(ex.metadata.name)] == [
            "store-1",
            "order-id",
            "fetch-1",
            "fetch-2",
            "store-2",
        ]
        assert ex.status.phase == "Failed"
        assert ex.status.error is not None
        assert 'step name "order-id" is used twice' in ex.status.error.message


def test_non_determinism_names_everything(tmp_path: Path, registry: Registry) -> None:
    flip = {"order": ["a", "b"]}

    @kontinue.function("changes", registry=registry)
    def changes(ktx: kontinue.ExecutionContext, args: dict) -> None:
        for step in flip["order"]:
            kontinue.store_named(ktx, kontinue.StoreOptions(name=step), lambda s=step: s)
        kontinue.sleep(ktx, timedelta(minutes=1))

    with Environment(tmp_path, registry=registry) as env:
        ex = env.start("changes")
        env.engine.run_until(lambda: env.get(ex.metadata.name).status.phase == "Suspended")
        flip["order"] = ["b", "a"]
        done = env.run(ex.metadata.name)
        assert done.status.phase == "Failed"
        assert done.status.error is not None
        message = done.status.error.message
        assert ex.metadata.name in message
        assert 'recorded store "a"' in message and 'asked for store "b"' in message
        assert done.status.error.retryable is False


def test_values_that_cannot_be_json_fail_clearly_and_are_not_retried(
    tmp_path: Path, registry: Registry
) -> None:
    @kontinue.function("bad-store", retry=kontinue.RetryOptions(retries=3), registry=registry)
    def bad_store(ktx: kontinue.ExecutionContext, args: dict) -> None:
        kontinue.store_named(ktx, kontinue.StoreOptions(name="handle"), lambda: object())

    @kontinue.function("bad-result", retry=kontinue.RetryOptions(retries=3), registry=registry)
    def bad_result(ktx: kontinue.ExecutionContext, args: dict) -> object:
        return object()

    with Environment(tmp_path, registry=registry) as env:
        store_failed = env.execute("bad-store")
        assert store_failed.status.phase == "Failed" and store_failed.status.attempts == 0
        assert store_failed.status.error is not None
        assert 'store step "handle"' in store_failed.status.error.message
        assert "cannot be recorded as JSON" in store_failed.status.error.message
        result_failed = env.execute("bad-result")
        assert result_failed.status.phase == "Failed" and result_failed.status.attempts == 0
        assert result_failed.status.error is not None
        assert "cannot be stored as JSON" in result_failed.status.error.message
