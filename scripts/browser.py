"""A real browser (Debian's Chromium, driven by Playwright) on the docs and the admin.

1. Swagger UI at /api/docs/ lists the five endpoints; "Try it out" registers and logs in,
   "Authorize" takes the access token, and GET /api/me/ shows the user.
2. The admin: log in, open the Constance page, change ACCESS_TOKEN_LIFETIME; a login made
   afterwards gets a token whose exp - iat is the new value.
3. The same pages through scripts/lambda-serve (API Gateway stage prefix), no asset 404.
Screenshots go to docs/. Everything is served on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import ROOT, LiveServer, start_lambda_serve
from playwright.sync_api import expect, sync_playwright

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
PASSWORD = "correct-horse-battery"
ADMIN = "admin@example.com"
ENDPOINTS = ["/api/register/", "/api/login/", "/api/refresh/", "/api/logout/", "/api/me/"]
DOCS = ROOT / "docs"
# Loads our Content-Security-Policy refuses on purpose: ReDoc's footer always asks its CDN for
# a logo and hides it when that fails. Nothing else may be refused.
REFUSED_ON_PURPOSE = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_login(base: str) -> dict:
    request = urllib.request.Request(
        f"{base}/api/login/",
        data=json.dumps({"email": ADMIN, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def watch_assets(page, document_status: int = 200) -> list[str]:
    """Collect every failed or 4xx/5xx response the page makes, and every console error
    (a load the Content-Security-Policy refused is one)."""
    failures: list[str] = []

    def response(r):
        expected = document_status if r.request.resource_type == "document" else 200
        if r.status >= 400 and r.status != expected:
            failures.append(f"{r.status} {r.url}")

    page.on("response", response)
    page.on(
        "requestfailed",
        lambda r: None if r.url in REFUSED_ON_PURPOSE else failures.append(f"failed {r.url}"),
    )

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
    # A GET of a POST-only endpoint: the browsable API's page with its form, under a 405.
    failures = watch_assets(page, document_status=405)
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
    assert listed == sorted(ENDPOINTS), listed
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
        f"ok   Swagger UI{' via lambda-serve' if prefix else ''}: 5 endpoints, register, "
        "login, Authorize, GET /api/me/ shows the user"
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


def main() -> int:
    """Run the three flows; any failed expectation raises."""
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        with LiveServer("browser") as server:
            server.env.update(DJANGO_SUPERUSER_EMAIL=ADMIN, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
            server.manage("createsuperuser", "--noinput")
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            swagger_flow(page, server.url, screenshot=DOCS / "swagger-me.png")
            page.goto(f"{server.url}/api/docs/")
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            page.screenshot(path=str(DOCS / "swagger-ui.png"))
            admin_flow(browser.new_page(), server.url, screenshot=DOCS / "constance.png")
            other_pages_flow(browser, server.url)

            log = (ROOT / "build" / "browser-lambda-serve.log").open("w")
            process, base = start_lambda_serve(server.database_url, log)
            origin = base.removesuffix("/dev")
            try:
                swagger_flow(browser.new_page(), origin, prefix="/dev")
                admin_flow(browser.new_page(), origin, prefix="/dev", lifetime=45)
                other_pages_flow(browser, origin, prefix="/dev")
            finally:
                process.terminate()
                process.wait(timeout=30)
                log.close()
        browser.close()
    print("browser: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
