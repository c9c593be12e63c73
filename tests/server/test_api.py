"""The HTTP API over real HTTP against a real `kontinue server` process and SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import KONTINUE, ROOT, wait_for
from tests.server.conftest import StartServer, launch

JSON = {"Content-Type": "application/json"}


def phase(client: httpx.Client, name: str, namespace: str = "default") -> str:
    got = client.get(f"/api/v1/executions/{name}", params={"namespace": namespace})
    assert got.status_code == 200, got.text
    value: str = got.json()["phase"]
    return value


def waiting_gate(client: httpx.Client, name: str) -> bool:
    tree = client.get(f"/api/v1/executions/{name}/tree").json()
    return any(s["type"] == "approval" and s["phase"] == "Waiting" for s in tree["steps"])


def act(client: httpx.Client, name: str, action: str, body: Any = None) -> httpx.Response:
    return client.post(f"/api/v1/executions/{name}/{action}", json=body or {})


def create(
    client: httpx.Client, body: dict[str, Any], namespace: str = "default"
) -> httpx.Response:
    return client.post("/api/v1/executions", json=body, params={"namespace": namespace})


def test_readonly_shows_everything_and_refuses_every_change(start_server: StartServer) -> None:
    server = start_server()  # readonly is the default
    with server.client() as c:
        info = c.get("/api/v1/info").json()
        assert info["authMode"] == "readonly" and info["canWrite"] is False
        assert c.get("/api/v1/executions").status_code == 200
        functions = {f["name"]: f for f in c.get("/api/v1/functions").json()["items"]}
        assert functions["deploy"]["description"] == "Deploy a service after an approval"
        assert functions["deploy"]["argumentSchema"]["required"] == ["service"]
        refused = create(c, {"function": "deploy", "arguments": {"service": "shop"}})
        assert refused.status_code == 403
        assert "readonly" in refused.json()["message"]
        for action in ("resume", "cancel", "retry", "skip", "resubmit"):
            answer = act(c, "anything", action)
            assert answer.status_code == 403, (action, answer.text)
        assert c.get("/api/v1/executions").json()["total"] == 0  # nothing was created


def test_a_gate_is_approved_over_the_api_and_the_execution_completes(
    start_server: StartServer,
) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        bad = create(c, {"function": "deploy", "arguments": {"replicas": 0}})
        assert bad.status_code == 422
        message = bad.json()["message"]
        assert "service" in message and "replicas" in message  # every problem at once
        made = create(c, {"function": "deploy", "arguments": {"service": "shop"}, "name": "d1"})
        assert made.status_code == 201, made.text
        wait_for(lambda: phase(c, "d1") == "Suspended", what="the gate")
        tree = c.get("/api/v1/executions/d1/tree").json()
        gate = [s for s in tree["steps"] if s["type"] == "approval"]
        assert gate and gate[0]["phase"] == "Waiting" and gate[0]["displayName"] == "Approve shop"
        listed = c.get("/api/v1/executions", params={"phase": "Suspended"}).json()
        assert [i["name"] for i in listed["items"]] == ["d1"]
        assert listed["items"][0]["progress"] == {"current": 0, "max": 2}
        resumed = act(c, "d1", "resume")
        assert resumed.status_code == 200 and len(resumed.json()["resumed"]) == 1
        wait_for(lambda: phase(c, "d1") == "Completed", what="completion")
        got = c.get("/api/v1/executions/d1").json()
        assert got["result"] == {"deployed": "shop", "replicas": 2}
        again = act(c, "d1", "resume")
        assert again.status_code == 409 and "no open suspension" in again.json()["message"]
        missing = c.get("/api/v1/executions/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["message"]


def test_cancel_retry_skip_and_resubmit(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        assert create(c, {"function": "naps", "name": "nap"}).status_code == 201
        wait_for(lambda: phase(c, "nap") == "Suspended", what="the sleep")
        assert act(c, "nap", "cancel").json()["canceled"] == ["nap"]
        assert phase(c, "nap") == "Canceled"
        assert act(c, "nap", "cancel").status_code == 409

        assert create(c, {"function": "heals", "name": "h"}).status_code == 201
        wait_for(lambda: phase(c, "h") == "Failed", what="the failure")
        assert act(c, "h", "retry").status_code == 200
        wait_for(lambda: phase(c, "h") == "Completed", what="the retry")
        assert c.get("/api/v1/executions/h").json()["result"] == "healed"

        # a child stuck in an hour-long backoff is skipped: the parent goes on
        assert create(c, {"function": "calls-stuck", "name": "p"}).status_code == 201
        wait_for(
            lambda: any(
                i["phase"] == "Backoff"
                for i in c.get("/api/v1/executions", params={"function": "stuck"}).json()["items"]
            ),
            what="the backoff",
        )
        child = c.get("/api/v1/executions", params={"function": "stuck"}).json()["items"][0]
        skipped = act(c, child["name"], "skip")
        assert skipped.status_code == 200, skipped.text
        wait_for(lambda: phase(c, "p") == "Completed", what="the parent after the skip")
        assert phase(c, child["name"]) == "Skipped"
        assert c.get("/api/v1/executions/p").json()["result"] == (
            "went on after the child gave None"
        )
        assert act(c, "p", "skip").status_code == 409  # a Completed one cannot be skipped

        again = act(c, "h", "resubmit")
        assert again.status_code == 201
        new = again.json()["execution"]
        assert new["name"] != "h" and new["function"] == "heals"
        assert new["labels"]["kontinue.cloud/resubmitted-from"] == "h"


def test_pipelines_are_checked_as_kontinue_submit_checks_them(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        offered = {p["file"]: p for p in c.get("/api/v1/pipelines").json()["items"]}
        assert offered["release.yaml"]["params"]["required"] == ["service"]
        bad_params = create(c, {"pipeline": {"file": "release.yaml"}, "params": {"replicas": 0}})
        assert bad_params.status_code == 422
        assert (
            bad_params.json()["problems"]
            == [
                "release.yaml: param 'replicas' must be at least 1 (got 0)",
                "release.yaml: param 'service' is required",
            ]
            or "service" in bad_params.json()["message"]
        )
        text = (Path(__file__).parent / "pipelines" / "release.yaml").read_text()
        broken = text.replace("    suspend:", "    suspendd:")
        answer = create(c, {"pipeline": {"content": broken, "filename": "mine.yaml"}})
        assert answer.status_code == 422
        problem = answer.json()["problems"][0]
        assert problem["file"] == "mine.yaml" and problem["line"] == 20 and problem["col"] > 0
        assert problem["text"].startswith("mine.yaml:20:")
        good = create(
            c, {"pipeline": {"file": "release.yaml"}, "params": {"service": "shop"}, "name": "r1"}
        )
        assert good.status_code == 201, good.text
        wait_for(lambda: waiting_gate(c, "r1"), what="the pipeline's gate")
        detail = c.get("/api/v1/executions/r1").json()
        assert detail["pipeline"] == "release" and detail["arguments"]["replicas"] == 2
        assert detail["plan"]["steps"][0]["name"] == "build"
        logs = c.get("/api/v1/executions/r1/logs", params={"step": "build"})
        assert logs.status_code == 200 and logs.text == "building shop\n"
        none = c.get("/api/v1/executions/r1/logs", params={"step": "nope"})
        assert none.status_code == 404 and "build" in none.json()["message"]


def test_list_pages_filters_and_searches(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        for i in range(7):
            body = {
                "function": "naps",
                "name": f"nap-{i}",
                "labels": {"team": "a" if i % 2 else "b"},
            }
            assert create(c, body).status_code == 201
        seen: list[str] = []
        token = None
        while True:
            params: dict[str, Any] = {"limit": 3, "function": "naps"}
            if token:
                params["continue"] = token
            page = c.get("/api/v1/executions", params=params).json()
            assert page["total"] == 7
            seen += [i["name"] for i in page["items"]]
            token = page["continue"]
            if not token:
                break
        assert seen == [f"nap-{i}" for i in range(6, -1, -1)]  # newest first, none twice
        team_a = c.get("/api/v1/executions", params={"selector": "team=a"}).json()
        assert sorted(i["name"] for i in team_a["items"]) == ["nap-1", "nap-3", "nap-5"]
        found = c.get("/api/v1/executions", params={"search": "NAP-4"}).json()
        assert [i["name"] for i in found["items"]] == ["nap-4"]
        bad = c.get("/api/v1/executions", params={"phase": "Sleeping"})
        assert bad.status_code == 400 and "Suspended" in bad.json()["message"]
        bad = c.get("/api/v1/executions", params={"selector": "a in ("})
        assert bad.status_code == 400
        bad = c.get("/api/v1/executions", params={"continue": "garbage!"})
        assert bad.status_code == 400


def test_events_stream_changes_as_they_happen(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    seen: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with server.client() as c, c.stream("GET", "/api/v1/events") as stream:
            for line in stream.iter_lines():
                opened.set()
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if any(
                        e.get("execution", {}).get("phase") == "Completed"
                        for e in seen
                        if isinstance(e.get("execution"), dict)
                    ):
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(20)
    with server.client() as c:
        assert create(c, {"function": "heals", "name": "ev"}).status_code == 201
        wait_for(lambda: phase(c, "ev") == "Failed")
        act(c, "ev", "retry")
    thread.join(30)
    phases = [e["execution"]["phase"] for e in seen if e["kind"] == "Execution"]
    assert phases[0] == "Pending" and "Failed" in phases and phases[-1] == "Completed"


def test_openapi_and_metrics(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        doc = c.get("/api/v1/openapi.json").json()
        for path in (
            "/api/v1/executions",
            "/api/v1/executions/{name}",
            "/api/v1/executions/{name}/tree",
            "/api/v1/executions/{name}/logs",
            "/api/v1/executions/{name}/resume",
            "/api/v1/executions/{name}/skip",
            "/api/v1/executions/{name}/resubmit",
            "/api/v1/events",
            "/api/v1/functions",
        ):
            assert path in doc["paths"], path
        assert create(c, {"function": "deploy", "arguments": {"service": "m"}, "name": "m"})
        wait_for(lambda: phase(c, "m") == "Suspended")
        act(c, "m", "resume")
        wait_for(lambda: phase(c, "m") == "Completed")
        wait_for(lambda: 'result="success"' in c.get("/metrics").text, what="the counter")
        text = c.get("/metrics").text
        assert 'kontinue_executions_completed{function="deploy",result="success"} 1.0' in text
        assert 'kontinue_execution_latency_count{function="deploy",namespace="default"' in text
        assert (
            'kontinue_execution_states{function="deploy",namespace="default",state="Completed"'
            in text
        )
        assert "kontinue_executions_running" in text and "kontinue_queue_pending 0.0" in text
        assert 'kontinue_journal_writes{kind="suspend"}' in text


def test_readwrite_off_loopback_needs_a_token(state_dir: Path, tmp_path: Path) -> None:
    process, _ = launch(state_dir, "--auth-mode", "readwrite", "--host", "0.0.0.0")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--token-file" in err and "Traceback" not in err


def test_a_token_is_required_on_every_request(start_server: StartServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    server = start_server(
        "--auth-mode", "readwrite", "--host", "0.0.0.0", "--token-file", str(token_file)
    )
    url = server.url.replace("0.0.0.0", "127.0.0.1")
    with httpx.Client(base_url=url, timeout=30) as c:
        for path in ("/api/v1/executions", "/api/v1/info", "/metrics", "/api/v1/events"):
            assert c.get(path).status_code == 401, path
        wrong = c.get("/api/v1/executions", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "Bearer" in wrong.json()["message"]
        assert create(c, {"function": "naps"}).status_code == 401
        good = {"Authorization": "Bearer s3cret-token"}
        assert c.get("/api/v1/executions", headers=good).status_code == 200
        made = c.post("/api/v1/executions", json={"function": "naps"}, headers=good)
        assert made.status_code == 201
        assert c.get("/", headers={}).status_code == 200  # the page itself, to sign in
        login = c.post("/api/v1/login", json={"token": "s3cret-token"})
        assert login.status_code == 200
        assert c.get("/api/v1/executions").status_code == 200  # the cookie now


def test_cross_site_requests_are_refused(start_server: StartServer) -> None:
    server = start_server("--auth-mode", "readwrite")
    with server.client() as c:
        body = {"function": "naps", "name": "x"}
        forged = c.post("/api/v1/executions", json=body, headers={"Origin": "http://evil.test"})
        assert forged.status_code == 403 and "evil.test" in forged.json()["message"]
        form = c.post("/api/v1/executions", data={"function": "naps"})
        assert form.status_code == 415
        fetch = c.post("/api/v1/executions", json=body, headers={"Sec-Fetch-Site": "cross-site"})
        assert fetch.status_code == 403
        own = c.post("/api/v1/executions", json=body, headers={"Origin": server.url.rstrip("/")})
        assert own.status_code == 201
        assert c.get("/api/v1/executions").json()["total"] == 1


def test_header_mode_grants_per_namespace_with_casbin(
    start_server: StartServer, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.csv"
    policy.write_text(
        "# who may do what\n"
        "p, alice, team-a, write\n"
        "p, viewers, *, read\n"
        "g, bob, release-managers\n"
        "p, release-managers, team-b, write\n"
    )
    server = start_server("--auth-mode", "header", "--auth-config", str(policy))
    alice = {"X-Auth-User": "alice"}
    with server.client() as c:
        assert c.get("/api/v1/executions", params={"namespace": "team-a"}).status_code == 401
        ok = create_as(c, alice, "team-a")
        assert ok.status_code == 201, ok.text
        other = create_as(c, alice, "team-b")
        assert other.status_code == 403 and "team-b" in other.json()["message"]
        assert (
            c.get("/api/v1/executions", params={"namespace": "team-b"}, headers=alice).status_code
            == 403
        )
        carol = {"X-Auth-User": "carol", "X-Auth-Groups": "staff, viewers"}
        listed = c.get("/api/v1/executions", params={"namespace": "team-a"}, headers=carol)
        assert listed.status_code == 200 and listed.json()["total"] == 1
        assert create_as(c, carol, "team-a").status_code == 403
        bob = {"X-Auth-User": "bob"}
        assert create_as(c, bob, "team-b").status_code == 201
        assert create_as(c, bob, "team-a").status_code == 403
        info = c.get("/api/v1/info", params={"namespace": "team-a"}, headers=alice).json()
        assert info["user"] == "alice" and info["canWrite"] is True


def create_as(c: httpx.Client, who: dict[str, str], namespace: str) -> httpx.Response:
    return c.post(
        "/api/v1/executions",
        json={"function": "naps"},
        params={"namespace": namespace},
        headers=who,
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--auth-mode", "header"], "--auth-config"),
        (["--auth-mode", "header", "--auth-config", "/no/such.csv"], "no such file"),
        (["--auth-config", "x.csv"], "only used with --auth-mode header"),
    ],
)
def test_bad_auth_settings_are_clear_errors(
    state_dir: Path, flags: list[str], expected: str
) -> None:
    process, _ = launch(state_dir, *flags)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and expected in err and "Traceback" not in err


def test_a_taken_port_is_a_clear_error(start_server: StartServer, state_dir: Path) -> None:
    server = start_server()
    port = server.url.rsplit(":", 1)[1].strip("/")
    other = state_dir.parent / "other"
    other.mkdir()
    done = subprocess.run(
        [*KONTINUE, "--state-dir", str(other), "server", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2 and "pick another --port" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
