"""Worker groups route work: two worker processes in two groups on one store."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from kontinue.api import Execution, Function
from kontinue.runtime import GROUP_LABEL
from kontinue.store import NotFoundError, open_store
from tests.conftest import CLI, start_kontinue, stop, wait_for

FNS = str(Path(__file__).parent / "fns_groups.py")


def _ran_on(result: dict[str, object], worker: subprocess.Popen[bytes]) -> bool:
    return str(result["worker"]).startswith(f"{socket.gethostname()}-{worker.pid}-")


@pytest.mark.slow
def test_each_worker_runs_only_its_own_groups_executions(cli: CLI, state_dir: Path) -> None:
    store = open_store(state_dir, create=True)
    common = ("worker", "--import", FNS, "--lease-duration", "2s")
    alpha = start_kontinue(state_dir, *common, "--group", "alpha", "--with-controller")
    beta = start_kontinue(state_dir, *common, "--group", "beta")
    try:

        def published(name: str) -> str | None:
            try:
                return store.get(Function, "default", name).spec.worker_group
            except NotFoundError:
                return None

        wait_for(lambda: published("grp-alpha") == "alpha" and published("grp-beta") == "beta")

        def start(function: str, *args: str) -> str:
            result = cli("execute", function, "--no-wait", *args)
            assert result.returncode == 0, result.stderr
            return result.stdout.strip()

        a = start("grp-alpha", "-a", "spawn=true")
        b = start("grp-beta")
        done = lambda n: store.get(Execution, "default", n).terminal  # noqa: E731
        wait_for(lambda: done(a) and done(b), 60, "both Executions")
        ex_a, ex_b = (store.get(Execution, "default", n) for n in (a, b))
        child = store.get(Execution, "default", f"{a}-b")
        assert (ex_a.status.phase, ex_b.status.phase, child.status.phase) == ("Completed",) * 3
        assert ex_a.metadata.labels[GROUP_LABEL] == "alpha"
        assert ex_b.metadata.labels[GROUP_LABEL] == "beta"
        # a child goes to its own function's group, not its parent's
        assert child.metadata.labels[GROUP_LABEL] == "beta"
        assert _ran_on(ex_a.status.result, alpha)
        assert _ran_on(ex_b.status.result, beta)
        assert _ran_on(child.status.result, beta)

        # with the alpha worker gone, the beta worker leaves alpha's work alone
        stop(alpha)
        waiting = start("grp-alpha")
        later = start("grp-beta")
        wait_for(lambda: store.get(Execution, "default", later).status.phase == "Completed")
        assert store.get(Execution, "default", waiting).status.phase == "Pending"
    finally:
        stop(alpha)
        stop(beta)
