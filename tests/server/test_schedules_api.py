"""The schedules API over real HTTP: a real `kontinue server`, schedules made by the real CLI.

List, get, suspend, resume and run now, in each auth mode; the CLI and the server act on the
same ScheduledExecutions through the same operations (`runtime/_schedule_ops.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import CLI, wait_for
from tests.server.conftest import StartServer


def make(cli: CLI, name: str, *args: str) -> None:
    done = cli("schedule", "create", name, *args)
    assert done.returncode == 0, done.stderr


def schedules(c: httpx.Client, namespace: str = "default", **headers: str) -> dict[str, Any]:
    got = c.get("/api/v1/schedules", params={"namespace": namespace}, headers=headers)
    assert got.status_code == 200, got.text
    return {s["name"]: s for s in got.json()["items"]}


def act(
    c: httpx.Client, name: str, action: str, namespace: str = "default", **headers: str
) -> httpx.Response:
    return c.post(
        f"/api/v1/schedules/{name}/{action}",
        json={},
        params={"namespace": namespace},
        headers=headers,
    )


def test_list_suspend_resume_and_run_now_over_http(start_server: StartServer, cli: CLI) -> None:
    make(cli, "nightly", "naps", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin")
    make(cli, "hourly", "naps", "--cron", "0 * * * *", "--suspend")
    server = start_server("--auth-mode", "readwrite")
    before = datetime.now(UTC)
    with server.client() as c:
        found = schedules(c)
        assert sorted(found) == ["hourly", "nightly"]
        nightly = found["nightly"]
        assert nightly["schedule"] == "0 2 * * *" and nightly["timezone"] == "Europe/Berlin"
        assert nightly["function"] == "naps" and nightly["suspended"] is False
        assert nightly["lastRun"] is None and nightly["active"] == []
        next_run = datetime.fromisoformat(nightly["nextRun"])
        assert before < next_run <= before + timedelta(days=1, hours=1)
        assert next_run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "02:00"
        assert found["hourly"]["suspended"] is True and found["hourly"]["nextRun"] is None
        assert found["hourly"]["timezone"] == "UTC"

        suspended = act(c, "nightly", "suspend")
        assert suspended.status_code == 200, suspended.text
        assert suspended.json()["changed"] is True
        assert suspended.json()["schedule"]["suspended"] is True
        assert suspended.json()["schedule"]["nextRun"] is None
        again = act(c, "nightly", "suspend")
        assert again.status_code == 200 and again.json()["changed"] is False
        # the CLI sees the server's change: one store, one operation
        shown = cli("schedule", "get", "nightly")
        assert shown.returncode == 0 and "Suspended:     true" in shown.stdout, shown.stdout
        resumed = act(c, "nightly", "resume")
        assert resumed.json()["changed"] is True
        assert resumed.json()["schedule"]["nextRun"] is not None
        assert schedules(c)["nightly"]["suspended"] is False
        assert cli("schedule", "suspend", "hourly").stderr.startswith("schedule hourly is already")

        started = act(c, "hourly", "trigger")  # runs now even while suspended, as Argo's
        assert started.status_code == 201, started.text
        run = started.json()["execution"]
        assert run["name"].startswith("hourly-manual-") and run["function"] == "naps"
        assert run["labels"]["kontinue.cloud/scheduled-by"] == "hourly"
        wait_for(
            lambda: c.get(f"/api/v1/executions/{run['name']}").json()["phase"] == "Suspended",
            what="the triggered run to start (it sleeps an hour)",
        )
        hourly = schedules(c)["hourly"]
        assert hourly["lastRun"]["name"] == run["name"] and hourly["lastRun"]["manual"] is True
        assert hourly["lastRun"]["phase"] == "Suspended" and hourly["active"] == [run["name"]]
        assert hourly["suspended"] is True  # running it by hand does not resume it
        detail = c.get("/api/v1/schedules/hourly").json()
        assert [r["name"] for r in detail["runs"]] == [run["name"]]
        assert detail["arguments"] == {}

        for action in ("suspend", "resume", "trigger"):
            missing = act(c, "no-such", action)
            assert missing.status_code == 404, (action, missing.text)
            assert 'ScheduledExecution "no-such" not found' in missing.json()["message"]
        assert c.get("/api/v1/schedules/no-such").status_code == 404
        form = c.post(
            "/api/v1/schedules/nightly/suspend",
            content="x=1",
            headers={"Content-Type": "text/plain"},
        )
        assert form.status_code == 415  # no cross-site form posts
        assert schedules(c)["nightly"]["suspended"] is False


def test_readonly_lists_schedules_and_refuses_every_change(
    start_server: StartServer, cli: CLI
) -> None:
    make(cli, "nightly", "naps", "--cron", "0 2 * * *")
    server = start_server()  # readonly is the default
    with server.client() as c:
        assert schedules(c)["nightly"]["suspended"] is False
        for action in ("suspend", "resume", "trigger"):
            refused = act(c, "nightly", action)
            assert refused.status_code == 403, (action, refused.text)
            assert "readonly" in refused.json()["message"]
        assert schedules(c)["nightly"]["suspended"] is False
        assert c.get("/api/v1/executions").json()["total"] == 0  # nothing was started


def test_header_mode_grants_schedule_actions_per_namespace_with_casbin(
    start_server: StartServer, cli: CLI, tmp_path: Path
) -> None:
    for namespace in ("team-a", "team-b"):
        make(cli, "nightly", "naps", "--cron", "0 2 * * *", "-n", namespace)
    policy = tmp_path / "policy.csv"
    policy.write_text("p, alice, team-a, write\np, viewers, *, read\n")
    server = start_server("--auth-mode", "header", "--auth-config", str(policy))
    alice = {"X-Auth-User": "alice"}
    carol = {"X-Auth-User": "carol", "X-Auth-Groups": "viewers"}
    with server.client() as c:
        assert c.get("/api/v1/schedules", params={"namespace": "team-a"}).status_code == 401
        assert act(c, "nightly", "suspend", "team-a", **alice).status_code == 200
        refused = act(c, "nightly", "suspend", "team-b", **alice)
        assert refused.status_code == 403 and "team-b" in refused.json()["message"]
        listed = c.get("/api/v1/schedules", params={"namespace": "team-b"}, headers=alice)
        assert listed.status_code == 403
        assert schedules(c, "team-a", **carol)["nightly"]["suspended"] is True
        assert schedules(c, "team-b", **carol)["nightly"]["suspended"] is False
        assert act(c, "nightly", "resume", "team-a", **carol).status_code == 403
        assert act(c, "nightly", "trigger", "team-a", **carol).status_code == 403
        everywhere = c.get("/api/v1/schedules", params={"allNamespaces": "true"}, headers=carol)
        assert [(s["namespace"], s["name"]) for s in everywhere.json()["items"]] == [
            ("team-a", "nightly"),
            ("team-b", "nightly"),
        ]
        assert (
            c.get("/api/v1/schedules", params={"allNamespaces": "true"}, headers=alice).status_code
            == 403
        )
        started = act(c, "nightly", "trigger", "team-a", **alice)
        assert started.status_code == 201, started.text
        made = started.json()["execution"]
        assert made["namespace"] == "team-a"
        shown = cli("get", made["name"], "-n", "team-a", "-o", "json")
        assert '"kontinue.cloud/triggered-by": "kontinue server (alice)"' in shown.stdout
