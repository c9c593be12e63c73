"""The web UI in a real headless Chromium (Debian's package, driven by Playwright).

Each test drives the pages as a person would: it clicks, confirms, types, and waits for the
page to change by itself (server-sent events), never reloading. Screenshots of the list,
detail and form pages are saved under `.screenshots/` (light and dark, wide and phone).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CLI, ROOT, wait_for
from tests.server.conftest import Server, StartServer

CHROMIUM = os.environ.get("KONTINUE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / ".screenshots"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page_at(browser: Any) -> Iterator[Any]:
    """Open pages of a server (wide, light by default); every page is closed afterwards."""
    contexts: list[Any] = []

    def open_page(server: Server, path: str = "/", **options: Any) -> Any:
        context = browser.new_context(
            viewport=options.pop("viewport", {"width": 1280, "height": 800}), **options
        )
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        page.set_default_timeout(30_000)
        page.goto(server.url.rstrip("/") + path)
        return page

    yield open_page
    for context in contexts:
        context.close()


def post(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.client() as c:
        answer = c.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result


def phase(server: Server, name: str) -> str:
    with server.client() as c:
        value: str = c.get(f"/api/v1/executions/{name}").json()["phase"]
        return value


def confirm(page: Any) -> None:
    dialog = page.locator("dialog#confirm")
    dialog.wait_for(state="visible")
    dialog.locator("#confirm-ok").click()


def mark_no_reload(page: Any) -> None:
    page.evaluate("window.__stayed = true")


def stayed(page: Any) -> bool:
    return bool(page.evaluate("window.__stayed === true"))


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)  # let the live dot and fonts settle
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_approve_a_gate_from_the_list_to_completion(
    start_server: StartServer, page_at: Any
) -> None:
    server = start_server("--auth-mode", "readwrite")
    post(
        server,
        "/api/v1/executions",
        {"pipeline": {"file": "release.yaml"}, "params": {"service": "shop"}, "name": "rel"},
    )
    page = page_at(server)
    mark_no_reload(page)
    row = page.locator("tr[data-name='rel']")
    row.locator(".phase", has_text="Suspended").wait_for()  # live: no reload needed
    page.locator("text=waiting for approval: Approve the release of shop").wait_for()
    shoot(page, "list-1280-light")
    row.locator("a", has_text="rel").click()
    gate = page.locator("li[data-type='approval']")
    gate.locator(".phase", has_text="Waiting").wait_for()
    assert "Check the staging dashboard first." in gate.inner_text()
    shoot(page, "detail-1280-light")
    gate.locator("button[data-action='resume']").click()
    confirm(page)
    page.locator(".page-head .phase", has_text="Completed").wait_for()
    page.locator("#toast", has_text="Resumed").wait_for()
    assert phase(server, "rel") == "Completed"
    ship = page.locator("li[data-step='ship']")
    ship.locator(".phase", has_text="Succeeded").wait_for()
    assert stayed(page), "the page reloaded"
    page.locator("a", has_text="Executions").first.click()
    page.locator("tr[data-name='rel'] .phase", has_text="Completed").wait_for()
    assert not page.errors


def test_cancel_retry_and_skip_from_the_detail_page(
    start_server: StartServer, page_at: Any
) -> None:
    server = start_server("--auth-mode", "readwrite")
    post(server, "/api/v1/executions", {"function": "naps", "name": "nap"})
    post(server, "/api/v1/executions", {"function": "heals", "name": "heal"})
    post(server, "/api/v1/executions", {"function": "calls-stuck", "name": "parent"})
    wait_for(lambda: phase(server, "heal") == "Failed", what="the failure")

    page = page_at(server, "/executions/default/nap")
    mark_no_reload(page)
    page.locator("li[data-type='sleep'] .phase", has_text="Waiting").wait_for()
    page.locator(".page-head button[data-action='cancel']").click()
    confirm(page)
    page.locator(".page-head .phase", has_text="Canceled").wait_for()
    assert page.locator(".page-head button[data-action='cancel']").count() == 0

    page.goto(server.url + "executions/default/heal")
    page.locator(".callout.error", has_text="the database was down").wait_for()
    page.locator(".page-head button[data-action='retry']").click()
    confirm(page)
    page.locator(".page-head .phase", has_text="Completed").wait_for()
    assert phase(server, "heal") == "Completed"

    page.goto(server.url + "executions/default/parent")
    mark_no_reload(page)
    child = page.locator("li[data-type='execution'][data-step='parent-flaky-step']")
    child.locator(".phase", has_text="Backoff").wait_for()
    shoot(page, "detail-backoff-1280-light")
    child.locator("button[data-action='skip']").click()
    confirm(page)
    page.locator(".page-head .phase", has_text="Completed").wait_for()
    child.locator(".phase", has_text="Skipped").wait_for()
    assert stayed(page)
    assert not page.errors


def test_logs_of_a_running_script_follow_as_it_prints(
    start_server: StartServer, page_at: Any
) -> None:
    server = start_server("--auth-mode", "readwrite")
    post(
        server,
        "/api/v1/executions",
        {"pipeline": {"file": "chatty.yaml"}, "params": {"lines": 60}, "name": "talk"},
    )
    page = page_at(server, "/executions/default/talk")
    step = page.locator("li[data-step='talk']")
    step.locator(".phase", has_text="Running").wait_for()
    step.locator("button[data-logs]").click()
    logs = page.locator("pre.logs")
    logs.locator("text=line 2").wait_for()
    early = logs.inner_text().count("line ")
    assert phase(server, "talk") != "Completed"  # still printing
    logs.locator("text=line 12").wait_for()
    later = logs.inner_text().count("line ")
    assert later > early and phase(server, "talk") != "Completed"
    shoot(page, "detail-logs-1280-light")
    page.locator(".logs-head", has_text="end of logs").wait_for(timeout=60_000)
    text = logs.inner_text()
    assert "line 1\n" in text and "line 60" in text
    assert text.count("line 7\n") == 1  # nothing twice
    assert not page.errors


def test_new_execution_form_shows_errors_then_starts(
    start_server: StartServer, page_at: Any
) -> None:
    server = start_server("--auth-mode", "readwrite")
    page = page_at(server)
    page.locator("nav a", has_text="New Execution").click()
    page.locator("#f-target").select_option("deploy")
    page.locator("#f-replicas").fill("0")
    assert page.locator("#f-environment").input_value() == '"staging"'
    shoot(page, "form-1280-light")
    page.locator("button[type='submit']").click()
    problems = page.locator(".problems")
    problems.wait_for()
    text = problems.inner_text()
    assert "invalid arguments for function 'deploy'" in text
    assert "service" in text and "replicas" in text
    shoot(page, "form-error-1280-light")
    page.locator("#f-service").fill("shop")
    page.locator("#f-replicas").fill("3")
    page.locator("#f-environment").select_option('"production"')
    page.locator("#f-name").fill("from-form")
    page.locator("button[type='submit']").click()
    page.wait_for_url("**/executions/default/from-form")
    page.locator(".page-head .phase", has_text="Suspended").wait_for()
    with server.client() as c:
        args = c.get("/api/v1/executions/from-form").json()["arguments"]
    assert args == {"service": "shop", "replicas": 3, "environment": "production", "dry_run": False}

    page.goto(server.url + "new")
    page.locator("button", has_text="Pipeline").first.click()
    page.locator("#f-target").select_option("release.yaml")
    page.locator("button[type='submit']").click()
    page.locator(".problems", has_text="param 'service' is required").wait_for()

    page.locator("button", has_text="Pipeline YAML").click()
    page.locator("#f-filename").fill("mine.yaml")
    page.locator("#f-content").fill(
        "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata: {name: mine}\n"
        "steps:\n  - name: wait\n    sleeep: 1s\n"
    )
    page.locator("button[type='submit']").click()
    page.locator(".problems", has_text="mine.yaml:6:5").wait_for()
    assert "did you mean 'sleep'" in page.locator(".problems").inner_text()
    assert not page.errors


def test_readonly_hides_every_write_button_and_refuses_a_forged_post(
    start_server: StartServer, page_at: Any, state_dir: Path
) -> None:
    writer = start_server("--auth-mode", "readwrite")
    post(writer, "/api/v1/executions", {"function": "deploy", "arguments": {"service": "a"}})
    post(writer, "/api/v1/executions", {"function": "heals", "name": "bad"})
    wait_for(lambda: phase(writer, "bad") == "Failed")
    writer.stop()
    server = start_server()  # readonly, the default
    page = page_at(server)
    page.locator("tr[data-name='bad']").wait_for()
    assert page.locator("a", has_text="New Execution").is_hidden()
    assert page.locator("text=read-only").is_visible()
    page.locator("tr[data-name='bad'] a").click()
    page.locator(".callout.error").wait_for()
    assert page.locator("[data-action]").count() == 0
    deploy = page.evaluate(
        """async () => {
            const r = await fetch('/api/v1/executions?namespace=default', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({function: 'heals'})});
            return [r.status, (await r.json()).message];
        }"""
    )
    assert deploy[0] == 403 and "readonly" in deploy[1]
    retry = page.evaluate(
        """async () => (await fetch('/api/v1/executions/bad/retry', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{}'})).status"""
    )
    assert retry == 403
    page.goto(server.url + "new")
    page.locator("text=This server is read-only").wait_for()
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/api/v1/executions").json()["total"] == 2


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_at_desktop_and_phone_width(
    start_server: StartServer, page_at: Any, scheme: str
) -> None:
    server = start_server("--auth-mode", "readwrite")
    post(server, "/api/v1/executions", {"function": "deploy", "arguments": {"service": "api"}})
    post(
        server,
        "/api/v1/executions",
        {"pipeline": {"file": "release.yaml"}, "params": {"service": "shop"}, "name": "rel"},
    )
    post(server, "/api/v1/executions", {"function": "heals", "name": "bad"})
    wait_for(lambda: phase(server, "bad") == "Failed")
    for width, height, label in ((1280, 800, "1280"), (390, 844, "phone")):
        page = page_at(server, viewport={"width": width, "height": height}, color_scheme=scheme)
        page.locator("tr[data-name='rel'] .phase", has_text="Suspended").wait_for()
        shoot(page, f"list-{label}-{scheme}")
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"the list scrolls sideways at {width}px"
        page.goto(server.url + "executions/default/rel")
        page.locator("li[data-type='approval'] .phase", has_text="Waiting").wait_for()
        shoot(page, f"detail-{label}-{scheme}")
        page.goto(server.url + "new")
        page.locator("#f-target").select_option("deploy")
        shoot(page, f"form-{label}-{scheme}")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.tagName")
        assert focused in ("A", "BUTTON", "INPUT", "SELECT")
        assert not page.errors


def test_schedules_page_suspends_resumes_and_runs_now(
    start_server: StartServer, page_at: Any, cli: CLI
) -> None:
    for args in (
        ("nightly", "naps", "--cron", "0 2 * * *", "--timezone", "Europe/Berlin"),
        ("hourly", "naps", "--cron", "0 * * * *", "--suspend"),
    ):
        made = cli("schedule", "create", *args)
        assert made.returncode == 0, made.stderr
    server = start_server("--auth-mode", "readwrite")
    page = page_at(server)
    mark_no_reload(page)
    page.locator("nav a", has_text="Schedules").click()
    nightly = page.locator("tr[data-schedule='nightly']")
    hourly = page.locator("tr[data-schedule='hourly']")
    nightly.locator(".phase", has_text="Active").wait_for()
    assert "0 2 * * *" in nightly.inner_text() and "Europe/Berlin" in nightly.inner_text()
    assert nightly.locator("td.next time").inner_text().startswith("in ")
    assert "never" in nightly.locator("td.last").inner_text()
    hourly.locator(".phase", has_text="Suspended").wait_for()
    assert hourly.locator("td.next").inner_text() == "\u2014"
    shoot(page, "schedules-1280-light")

    nightly.locator("button[data-action='suspend']").click()
    confirm(page)
    nightly.locator(".phase", has_text="Suspended").wait_for()
    page.locator("#toast", has_text="Suspended nightly").wait_for()
    assert re.search(r"^Suspended:\s+true$", cli("schedule", "get", "nightly").stdout, re.M)
    nightly.locator("button[data-action='resume']").click()
    confirm(page)
    nightly.locator(".phase", has_text="Active").wait_for()

    # a change made elsewhere (the CLI) shows up by itself: the page follows the events
    assert cli("schedule", "resume", "hourly").returncode == 0
    hourly.locator(".phase", has_text="Active").wait_for()
    hourly.locator("td.next time").wait_for()

    hourly.locator("button[data-action='trigger']").click()
    confirm(page)
    page.locator("#toast", has_text="Started hourly-manual-").wait_for()
    last = hourly.locator("td.last a")
    last.wait_for()
    run = last.inner_text()
    assert run.startswith("hourly-manual-")
    hourly.locator("td.last .phase", has_text="Suspended").wait_for()  # naps sleeps an hour
    assert "run by hand" in hourly.locator("td.last").inner_text()
    assert stayed(page), "the page reloaded"
    last.click()
    page.wait_for_url(f"**/executions/default/{run}")
    page.locator("li[data-type='sleep'] .phase", has_text="Waiting").wait_for()
    page.go_back()
    page.locator("tr[data-schedule='hourly'] td.name a").click()
    page.locator(f"tr[data-name='{run}']").wait_for()  # the list of its runs
    assert not page.errors


def test_schedules_page_of_a_readonly_server_has_no_buttons(
    start_server: StartServer, page_at: Any, cli: CLI
) -> None:
    made = cli("schedule", "create", "nightly", "naps", "--cron", "0 2 * * *")
    assert made.returncode == 0, made.stderr
    server = start_server()  # readonly
    for width, label in ((1280, "1280"), (390, "phone")):
        page = page_at(server, "/schedules", viewport={"width": width, "height": 800})
        page.locator("tr[data-schedule='nightly'] .phase", has_text="Active").wait_for()
        assert page.locator("[data-action]").count() == 0
        shoot(page, f"schedules-readonly-{label}-light")
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"the schedules page scrolls sideways at {width}px"
        assert not page.errors
