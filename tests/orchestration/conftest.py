"""Fixtures of the orchestration tests: an `Environment` on a real SQLite file per test."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.runtime import Registry
from kontinue.testing import Environment

EnvFactory = Callable[..., Environment]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[EnvFactory]:
    """Build Environments on `tmp_path/state` (one SQLite file); all closed at teardown."""
    made: list[Environment] = []

    def make(registry: Registry, **options: object) -> Environment:
        env = Environment(tmp_path / "state", registry=registry, **options)  # type: ignore[arg-type]
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


def run_until(env: Environment, predicate: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Run the engine on frozen virtual time until `predicate()` holds (bounded, real seconds)."""
    assert env.engine.run_until(predicate, timeout=timeout, skip_time=False), (
        f"condition not reached within {timeout}s"
    )


def settle(env: Environment, *, timeout: float = 30.0) -> None:
    """Run without moving virtual time until nothing can move and no function runs."""
    deadline = time.monotonic() + timeout

    def quiet() -> bool:
        assert time.monotonic() < deadline, "the engine did not settle"
        return env.engine.step() == 0 and env.engine.worker.busy == 0

    run_until(env, quiet, timeout=timeout)


def children(env: Environment, parent: str) -> list[Execution]:
    """The children of `parent`, in creation order."""
    found = env.store.list(Execution, "default", {"kontinue.cloud/parent": parent})
    return sorted(found, key=lambda e: (str(e.metadata.creation_timestamp), e.metadata.name))


def phase(env: Environment, name: str) -> str:
    """The stored phase of Execution `name`."""
    return env.get(name).status.phase
