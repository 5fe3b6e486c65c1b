"""Everything a live server writes, read back: the README's curl session, a refresh token
reused, an account locked by wrong passwords and an administrator ending a session, then every
token, password and key of the run looked for in the server's output. None may be there, and
the events of the run must be."""

import json
import re
import subprocess

import pytest

from devtools import PASSWORD
from devtools.http import Browser, admin_login_form, request
from tests.system.test_readme import curl_session

ADMIN_EMAIL = "admin@example.com"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def call(base: str, path: str, body=None, token=None, method="POST"):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return request(base + path, method, body, headers)


def server_lines(server) -> list[dict]:
    """Every line the server wrote, each of which must be one JSON object."""
    lines = server.log_path.read_text().splitlines()
    parsed = []
    for line in lines:
        if not line.startswith("{"):
            continue  # gunicorn's own start and stop lines
        parsed.append(json.loads(line))
    return parsed


@pytest.mark.system
@pytest.mark.live(
    DJANGO_LOG_FORMAT="json",
    LOGIN_THROTTLE_CEILING="3",
    DJANGO_SUPERUSER_PASSWORD=PASSWORD,
)
def test_nothing_secret_is_in_the_servers_output_of_a_full_run(api_server):
    base = api_server.url
    secrets = {
        api_server.env["JWT_PRIVATE_KEY"],
        *api_server.env["JWT_PRIVATE_KEY"].strip().splitlines()[1:-1],
        api_server.env["DJANGO_SECRET_KEY"],
        api_server.env["DATABASE_URL"],
        PASSWORD,
    }

    # The README's session, as pasted: its tokens are what it printed.
    script = (
        curl_session()
        .replace("API=http://127.0.0.1:8000", f"API={base}", 1)
        .replace("MAIL=build/mail", f"MAIL={api_server.mail_dir}", 1)
    )
    result = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    secrets |= set(JWT.findall(result.stdout))
    secrets |= set(re.findall(r'"refresh_token":"([^"]+)"', result.stdout))
    secrets |= set(re.findall(r'"password":\s*"([^"]+)"', script))
    secrets |= set(re.findall(r'"new_password":\s*"([^"]+)"', script))
    secrets |= {message.token for message in api_server.mailbox.messages()}

    # A reuse: the first refresh token shown after its successor was used.
    call(base, "/api/register/", {"email": "victim@example.com", "password": PASSWORD})
    first = call(base, "/api/login/", {"email": "victim@example.com", "password": PASSWORD}).json()
    second = call(base, "/api/refresh/", {"refresh_token": first["refresh_token"]}).json()
    third = call(base, "/api/refresh/", {"refresh_token": second["refresh_token"]}).json()
    reused = call(base, "/api/refresh/", {"refresh_token": first["refresh_token"]})
    assert reused.json()["code"] == "refresh_token_reused", reused.text
    for pair in (first, second, third):
        secrets |= set(pair.values())
    call(base, "/api/me/", token=third["access_token"], method="GET")
    call(
        base, f"/api/me/?token={third['refresh_token']}", token=third["access_token"], method="GET"
    )

    # A lockout: the e-mail's ceiling of wrong passwords.
    guesses = [f"guess-{number}-Wr0ng!" for number in range(4)]
    secrets |= set(guesses)
    statuses = [
        call(base, "/api/login/", {"email": "victim@example.com", "password": guess}).status
        for guess in guesses
    ]
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429, statuses

    # An administrator ends a session in the admin.
    api_server.manage("createsuperuser", "--noinput", "--email", ADMIN_EMAIL)
    admin_pair = call(base, "/api/login/", {"email": ADMIN_EMAIL, "password": PASSWORD}).json()
    secrets |= set(admin_pair.values())
    browser = Browser(base)
    status, page = browser.go("/admin/login/")
    assert status == 200
    status, _ = browser.go("/admin/login/", admin_login_form(page, ADMIN_EMAIL, "/admin/"))
    assert status == 302, "the admin login failed"
    secrets |= set(browser.cookies.values())
    status, page = browser.go("/admin/accounts/session/")
    session_ids = re.findall(r'name="_selected_action" value="([^"]+)"', page)
    assert session_ids, page[:2000]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    form = {
        "csrfmiddlewaretoken": token,
        "action": "end_sessions",
        "_selected_action": session_ids[:1],
    }
    status, _ = browser.go("/admin/accounts/session/", form)
    assert status == 302

    api_server.stop()
    output = api_server.log_path.read_text()
    secrets = {secret for secret in secrets if len(secret) >= 8}
    # The run's own: the README's two pairs and more, the reuse's three, the guesses, the keys.
    assert len(secrets) > 20, len(secrets)
    found = sorted(secret[:12] + "..." for secret in secrets if secret in output)
    assert found == [], f"secrets in the server's output: {found}"

    lines = server_lines(api_server)
    events = [line.get("event") for line in lines]
    assert "authn_token_reuse" in events
    assert "authn_login_lock" in events
    ended = [line for line in lines if line.get("event") == "session_expired"]
    assert {line.get("reason") for line in ended} >= {"reuse", "admin", "logout_everywhere"}, ended
    requests = [line for line in lines if line.get("path") == "/api/login/"]
    assert requests and all(isinstance(line.get("status"), int) for line in requests), lines[:5]
