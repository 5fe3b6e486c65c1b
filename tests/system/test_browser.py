"""A real browser (Debian's Chromium, driven by Playwright) on every page we serve.

0. The front door at / links the docs and walks through register, login, me, refresh, logout.
1. Swagger UI at /api/docs/ lists every endpoint; "Try it out" registers and logs in,
   "Authorize" takes the access token, and GET /api/me/ shows the user.
2. The admin: log in, open the Constance page, change ACCESS_TOKEN_LIFETIME; a login made
   afterwards gets a token whose exp - iat is the new value.
3. ReDoc and the browsable API render.
4. The pages mailed links open: a reset link sets a new password, a verification link confirms
   the address, each from its button, the token gone from the address bar.
5. The same pages through scripts/lambda-serve (API Gateway stage prefix).
On every page: no asset 4xx/5xx, nothing refused by the Content-Security-Policy, and no
request leaving 127.0.0.1. Screenshots go to build/ (docs/ holds the ones committed by hand).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from devtools import API_PATHS, PASSWORD, ROOT
from devtools.http import request
from devtools.live_server import start_lambda_serve

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Without these Chromium keeps calling home, which this machine's closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN = "admin@example.com"
SCREENSHOTS = ROOT / "build"
# Loads our Content-Security-Policy refuses on purpose: none (ReDoc's logo from its CDN is never
# asked for, app/static/front/own-origin.js).
REFUSED_ON_PURPOSE: tuple[str, ...] = ()


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_login(base: str) -> dict:
    return request(f"{base}/api/login/", "POST", {"email": ADMIN, "password": PASSWORD}).json()


def watch_assets(page, api_calls: bool = True) -> list[str]:
    """Collect every failed or 4xx/5xx response the page makes, and every console error
    (a load the Content-Security-Policy refused is one)."""
    failures: list[str] = []

    def response(r):
        if not api_calls and r.request.resource_type == "fetch":
            return  # the caller checks the API's answers itself
        if r.status >= 400:
            failures.append(f"{r.status} {r.url}")

    def leaves(r):
        # data: and blob: stay in the page; every request must go to this machine.
        host = urlsplit(r.url).hostname
        web = r.url.split(":", 1)[0] in {"http", "https"}
        if web and r.url not in REFUSED_ON_PURPOSE and host not in {"127.0.0.1", "localhost"}:
            failures.append(f"left 127.0.0.1: {r.url}")

    page.on("request", leaves)
    page.on("response", response)

    def failed(r):
        # A load the page itself dropped by navigating on (ERR_ABORTED) is no server failure.
        if r.url not in REFUSED_ON_PURPOSE and "ERR_ABORTED" not in (r.failure or ""):
            failures.append(f"failed {r.url}: {r.failure}")

    page.on("requestfailed", failed)

    def console(message):
        # Loads are judged by their responses above; Chromium also reports the favicon it
        # asks for on its own, which no page links.
        if message.type != "error" or message.text.startswith("Failed to load resource"):
            return
        if not any(f"'{url}'" in message.text for url in REFUSED_ON_PURPOSE):
            failures.append(f"console: {message.text}")

    page.on("console", console)
    return failures


def other_pages_flow(browser, base: str, prefix: str = "") -> None:
    """ReDoc and the browsable API render, every asset from our origin, nothing refused."""
    page = browser.new_page()
    failures = watch_assets(page)
    page.goto(f"{base}{prefix}/api/redoc/")
    expect(page.locator("h1").first).to_contain_text("Authentication API", timeout=30_000)
    assert not failures, failures
    page = browser.new_page()
    # A GET of a POST-only endpoint: the browsable API's page with its form.
    failures = watch_assets(page)
    page.goto(f"{base}{prefix}/api/login/")
    expect(page.locator("h1").first).to_contain_text("Login")
    expect(page.locator("form").last).to_be_visible()
    assert not failures, failures
    print(f"ok   ReDoc and the browsable API{' via lambda-serve' if prefix else ''}, CSP on")


def try_operation(page, path: str, method: str, body: dict | None = None) -> str:
    """Expand one Swagger UI operation, try it out, execute; return the response body text."""
    block = page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    if body is not None:
        block.locator("textarea.body-param__text").fill(json.dumps(body))
    block.locator("button.execute").click()
    response = block.locator(".live-responses-table .response").first
    expect(response).to_be_visible(timeout=30_000)
    return block.locator(".live-responses-table .response-col_description pre").first.inner_text()


def swagger_flow(page, base: str, prefix: str = "", screenshot=None) -> None:
    failures = watch_assets(page)
    page.goto(f"{base}{prefix}/api/docs/")
    paths = page.locator(".opblock-summary-path")
    expect(paths.first).to_be_visible(timeout=30_000)
    listed = sorted(set(paths.evaluate_all("nodes => nodes.map(n => n.dataset.path)")))
    assert listed == sorted(API_PATHS), listed
    email = f"browser-{time.time_ns()}@example.com"
    registered = json.loads(
        try_operation(page, "/api/register/", "post", {"email": email, "password": PASSWORD})
    )
    assert registered["email"] == email, registered
    tokens = json.loads(
        try_operation(page, "/api/login/", "post", {"email": email, "password": PASSWORD})
    )
    page.locator("button.authorize").first.click()
    page.locator(".auth-container input").first.fill(tokens["access_token"])
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.locator(".auth-btn-wrapper button.btn-done").click()
    me = json.loads(try_operation(page, "/api/me/", "get"))
    assert me["email"] == email, me
    if screenshot:
        response = page.locator(".opblock-get .live-responses-table").first
        response.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot))
    assert not failures, failures
    print(
        f"ok   Swagger UI{' via lambda-serve' if prefix else ''}: {len(API_PATHS)} endpoints, "
        "register, login, Authorize, GET /api/me/ shows the user"
    )


def admin_flow(page, base: str, prefix: str = "", lifetime: int = 77, screenshot=None) -> None:
    failures = watch_assets(page)
    page.goto(f"{base}{prefix}/admin/login/")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(ADMIN)
    page.goto(f"{base}{prefix}/admin/constance/config/")
    page.fill("input[name=ACCESS_TOKEN_LIFETIME]", str(lifetime))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("success", ignore_case=True)
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    assert not failures, failures
    token = api_login(f"{base}{prefix}")["access_token"]
    issued = claims(token)
    assert issued["exp"] - issued["iat"] == lifetime, issued
    print(
        f"ok   admin{' via lambda-serve' if prefix else ''}: Constance set "
        f"ACCESS_TOKEN_LIFETIME={lifetime}, next login's exp - iat = {lifetime}"
    )


def front_door_flow(browser, base: str, prefix: str = "") -> None:
    """The front door links every page, and its walk-through answers as the API should."""
    page = browser.new_page()
    failures = watch_assets(page, api_calls=False)
    page.goto(f"{base}{prefix}/")
    expect(page.locator("h1")).to_have_text("Authentication API")
    for link in ("Swagger UI", "ReDoc", "Browsable API", "Admin"):
        assert page.get_by_role("link", name=link).get_attribute("href").startswith(f"{prefix}/")
    expected = {
        "register": "201",
        "login": "200",
        "me": "200",
        "refresh": "200",
        "logout": "200",
        "refresh-again": "401",
    }
    for step, status in expected.items():
        button = page.locator(f"button[data-step='{step}']")
        button.click()
        expect(button).to_have_attribute("data-status", status, timeout=30_000)
    assert not failures, failures
    print(f"ok   front door{' via lambda-serve' if prefix else ''}: walk-through 201, 200 x4, 401")


def link_pages_flow(browser, server) -> None:
    """Register and ask for a reset by the API; open the two mailed links in the browser."""
    email = f"links-{time.time_ns()}@example.com"
    request(f"{server.url}/api/register/", "POST", {"email": email, "password": PASSWORD})
    verification = server.mailbox.take_one(to=email, kind="verify_email")
    request(f"{server.url}/api/password/reset/", "POST", {"email": email})
    reset = server.mailbox.take_one(to=email, kind="password_reset")
    new_password = "a-new-browser-phrase"
    for mail, fill in ((reset, new_password), (verification, None)):
        page = browser.new_page()
        failures = watch_assets(page)
        page.goto(mail.link)
        expect(page.locator("h1")).to_be_visible()
        assert "token=" not in page.url, page.url
        if fill:
            page.fill("input[name=new_password]", fill)
        page.click("button[type=submit]")
        expect(page.locator("#outcome")).to_have_attribute("data-status", "done", timeout=30_000)
        assert not failures, failures
    state = request(
        f"{server.url}/api/login/", "POST", {"email": email, "password": new_password}
    ).json()
    me = request(
        f"{server.url}/api/me/email/",
        headers={"Authorization": f"Bearer {state['access_token']}"},
    ).json()
    assert me["email_verified"] is True, me
    print("ok   the reset and verification links' pages: new password set, address confirmed")


@pytest.mark.system
def test_every_page_works_in_chromium_directly_and_through_lambda_serve(api_server):
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        server = api_server
        server.env.update(DJANGO_SUPERUSER_EMAIL=ADMIN, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        server.manage("createsuperuser", "--noinput")
        front_door_flow(browser, server.url)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        swagger_flow(page, server.url, screenshot=SCREENSHOTS / "swagger-me.png")
        page.goto(f"{server.url}/api/docs/")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "swagger-ui.png"))
        admin_flow(browser.new_page(), server.url, screenshot=SCREENSHOTS / "constance.png")
        other_pages_flow(browser, server.url)
        link_pages_flow(browser, server)

        log = (ROOT / "build" / "browser-lambda-serve.log").open("w")
        process, base = start_lambda_serve(server.database_url, log)
        origin = base.removesuffix("/dev")
        try:
            front_door_flow(browser, origin, prefix="/dev")
            swagger_flow(browser.new_page(), origin, prefix="/dev")
            admin_flow(browser.new_page(), origin, prefix="/dev", lifetime=45)
            other_pages_flow(browser, origin, prefix="/dev")
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()
        browser.close()
