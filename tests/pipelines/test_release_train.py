"""pipelines/release-train.yaml runs to the end from the CLI: loop, DAG, approval inputs, job,
poll against a real HTTP server, and finally: also when a deploy fails."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import CLI, ROOT

PIPELINE = str(ROOT / "pipelines" / "release-train.yaml")


class _Health(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        ready = type(self).hits >= 2  # not ready on the first try: the poll must repeat
        self.send_response(200 if ready else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health() -> Iterator[str]:
    _Health.hits = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    server.shutdown()
    server.server_close()


def _ok(result: object) -> None:
    assert getattr(result, "returncode", None) == 0, getattr(result, "stderr", result)


def test_release_train_end_to_end(cli: CLI, health: str) -> None:
    first = cli(
        "submit", PIPELINE, "--name", "rt", "-p", "version=1.5.0", "-p", f"healthUrl={health}"
    )
    _ok(first)
    assert "waiting for approval: Pick the regions for 1.5.0" in first.stderr

    # a value outside the enum: exit 2, the schema's message, and the gate stays open
    bad = cli("resume", "rt", "approve", "--input", "regions=[eu-west-1, mars]")
    assert bad.returncode == 2, bad.stderr
    assert "input 'regions.1' must be one of 'eu-west-1', 'us-east-1', 'ap-south-1'" in bad.stderr
    assert "stays open" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli("resume", "rt", "approve", "--input", "reason=ok")
    assert missing.returncode == 2 and "input 'regions' is required" in missing.stderr
    assert "waiting" in cli("tree", "rt").stdout

    done = cli(
        "resume",
        "rt",
        "approve",
        "--input",
        "regions=[eu-west-1, us-east-1, ap-south-1]",
        "--input",
        "reason=ship it",
    )
    _ok(done)
    assert "completed" in done.stderr.splitlines()[-1]
    result = json.loads(done.stdout)
    assert result == {
        "version": "1.5.0",
        "deployed": 3,
        "first": 0,
        "regions": ["eu-west-1", "us-east-1", "ap-south-1"],
    }
    assert _Health.hits >= 2  # the poll tried until the server said 200

    tree = cli("tree", "rt").stdout
    for child in ("rt-deploy-eu-west-1", "rt-deploy-us-east-1", "rt-deploy-ap-south-1"):
        assert child in tree
    gate = next(line for line in tree.splitlines() if "Pick the regions" in line)
    assert "resolved by " in gate and "(kontinue resume) at 20" in gate
    assert '"reason":"ship it"' in gate
    assert cli("logs", "rt", "notify").stdout.strip() == "release 1.5.0 Succeeded"
    assert cli("logs", "rt", "report").stdout.strip() == "3 regions deployed, smoke exit 0"
    assert cli("logs", "rt", "migrate").stdout.strip() == "migrating the schema for 1.5.0"
    _assert_at_most_two_deploys_at_once(cli)


def _assert_at_most_two_deploys_at_once(cli: CLI) -> None:
    """maxParallel: 2 — the third item is created only after one of the first two finished."""
    times = []
    for region in ("eu-west-1", "us-east-1", "ap-south-1"):
        item = json.loads(cli("get", f"rt-deploy-{region}", "-o", "json").stdout)
        times.append((item["metadata"]["creationTimestamp"], item["status"]["finishTime"]))
    third_created = times[2][0]
    assert min(times[0][1], times[1][1]) <= third_created


def test_a_failing_deploy_still_runs_finally(cli: CLI) -> None:
    _ok(cli("submit", PIPELINE, "--name", "bad", "-p", "failRegion=us-east-1"))
    failed = cli("resume", "bad", "approve", "--input", "regions=[eu-west-1, us-east-1]")
    assert failed.returncode != 0
    assert "rt-deploy" not in failed.stderr
    assert 'child Execution "bad-deploy-us-east-1"' in failed.stderr
    assert cli("logs", "bad", "notify").stdout.strip() == "release 1.4.0 Failed at deploy-us-east-1"
    tree = cli("tree", "bad").stdout
    assert tree.splitlines()[0].startswith("bad (release-train)  Failed")
    assert "bad-smoke" not in tree  # the DAG after the failed loop never started
    got = json.loads(cli("get", "bad", "-o", "json").stdout)
    assert got["status"]["phase"] == "Failed"  # the pipeline's phase: the main steps' outcome


def test_a_canceled_release_still_runs_finally(cli: CLI) -> None:
    _ok(cli("submit", PIPELINE, "--name", "stop"))
    canceled = cli("cancel", "stop")
    _ok(canceled)
    assert "stop runs its finally steps before it ends Canceled" in canceled.stderr
    assert cli("logs", "stop", "notify").stdout.strip() == "release 1.4.0 Canceled"
    got = json.loads(cli("get", "stop", "-o", "json").stdout)
    assert got["status"]["phase"] == "Canceled"
    again = cli("cancel", "stop")
    assert again.returncode == 2 and "already Canceled" in again.stderr
