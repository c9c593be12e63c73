"""Fixtures of the store contract suite: one real store per test, for every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kontinue.store import DB_FILE, Store
from tests.kube import require_cluster
from tests.store._backends import BACKENDS, StoreTarget
from tests.store._kubewipe import wipe


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this store test only on the named backends"
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend's name; `@pytest.mark.backends("sqlite")` limits a test to some backends."""
    name: str = request.param
    marker = request.node.get_closest_marker("backends")
    if marker is not None and name not in marker.args:
        pytest.skip(f"not applicable to the {name} backend")
    return name


@pytest.fixture
def target(backend: str, tmp_path: Path) -> StoreTarget:
    """A fresh, empty store of `backend` that this test and its child processes can open."""
    if backend == "sqlite":
        return StoreTarget(backend, str(tmp_path / DB_FILE))
    if backend == "kubernetes":
        kubeconfig = require_cluster()
        wipe(str(kubeconfig))
        return StoreTarget(backend, str(kubeconfig))
    raise ValueError(f"no store backend called {backend!r}")


@pytest.fixture
def store(target: StoreTarget) -> Iterator[Store]:
    """An open client of the test's store."""
    opened = target.open()
    yield opened
    opened.close()
