"""Stop PostgreSQL under a running server, then start it again: JSON 503s, then recovery.

Serves the API with gunicorn on 127.0.0.1 (``api_server``), checks it works, stops the local
PostgreSQL cluster with ``pg_ctlcluster`` (root, as in CI), checks that every API call that
needs the database answers 503 in the API's JSON error shape with ``Retry-After`` (no HTML,
no stack trace) and that token checks that need no database still work, starts PostgreSQL
again and checks that the same server answers 200 again without a restart.
"""

import json
import os
import subprocess
import time

import pytest

from devtools import PASSWORD
from devtools.http import request


def cluster() -> list[str]:
    """``pg_ctlcluster`` for Debian's local cluster (read when the test runs, so the suite
    collects on any machine)."""
    return ["pg_ctlcluster", "--skip-systemctl-redirect", *os.listdir("/etc/postgresql"), "main"]


def call(base, method, path, body=None, token=None):
    """One JSON request with an optional bearer token."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return request(base + path, method, body, headers)


def pg(action: str) -> None:
    subprocess.run([*cluster(), action], check=True)
    if action == "start":
        for _ in range(60):
            ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("PostgreSQL did not come back")


def json_lines(text: str) -> list[dict]:
    """The server's JSON log lines in ``text`` (gunicorn's own lines are not JSON)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.system
@pytest.mark.live(DJANGO_LOG_FORMAT="json")
def test_a_database_outage_is_a_json_503_then_the_same_server_recovers(api_server):
    base = api_server.url
    credentials = {"email": "fault@example.com", "password": PASSWORD}
    call(base, "POST", "/api/register/", credentials)
    pair = call(base, "POST", "/api/login/", credentials).json()
    assert call(base, "GET", "/api/me/", token=pair["access_token"]).status == 200
    logged_before = len(api_server.log_path.read_text())
    try:
        pg("stop")
        requests = [
            ("POST", "/api/login/", credentials, None),
            ("POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]}, None),
            ("GET", "/api/me/", None, pair["access_token"]),
            ("POST", "/api/register/", {"email": "x@example.com", "password": PASSWORD}, None),
            ("GET", "/api/health/", None, None),
        ]
        for method, path, body, token in requests:
            reply = call(base, method, path, body, token)
            assert reply.status == 503, (method, path, reply.status, reply.text)
            assert reply.headers.get("Content-Type") == "application/json"
            assert reply.json()["code"] == "service_unavailable"
            assert reply.headers.get("Retry-After") is not None
            assert "Traceback" not in reply.text
        # Access tokens need no database.
        assert call(base, "GET", "/api/me/", token="not-a-token").status == 401
    finally:
        pg("start")
    # Each request of the outage logged its cause once, beside its one request line.
    lines = json_lines(api_server.log_path.read_text()[logged_before:])
    by_request: dict[str, list[dict]] = {}
    for line in lines:
        by_request.setdefault(line["correlation_id"], []).append(line)
    outage = [
        group for group in by_request.values() if any(line.get("status") == 503 for line in group)
    ]
    assert len(outage) == len(requests), by_request
    for group in outage:
        causes = [line for line in group if line["message"].startswith("The database is")]
        assert len(causes) == 1, group
        assert causes[0]["level"] == "ERROR" and "5432" in causes[0]["message"], causes
        assert len(group) == 2, group
    time.sleep(1)
    recovered = [call(base, "GET", "/api/me/", token=pair["access_token"]).status for _ in range(4)]
    assert recovered == [200] * 4
    assert call(base, "GET", "/api/health/").json() == {"status": "ok"}
    refreshed = call(base, "POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]})
    assert refreshed.status == 200
