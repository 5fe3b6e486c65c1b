"""Stop PostgreSQL under a running server, then start it again: JSON 503s, then recovery.

Serves the API with gunicorn on 127.0.0.1 (``api_server``), checks it works, stops the local
PostgreSQL cluster with ``pg_ctlcluster`` (root, as in CI), checks that every API call that
needs the database answers 503 in the API's JSON error shape with ``Retry-After`` (no HTML,
no stack trace) and that token checks that need no database still work, starts PostgreSQL
again and checks that the same server answers 200 again without a restart. Its logs are JSON
lines, as on Lambda: each 503 logs its cause once and its request line, nothing more.
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


def json_lines(path, start: int) -> list[dict]:
    """The JSON lines of the server's log from byte ``start`` on (gunicorn's own are text)."""
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read().decode()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def assert_each_cause_logged_once(lines: list[dict], answered: int) -> None:
    """Every 503 request line has, in its correlation id, exactly one line naming the cause;
    Django's "Service Unavailable: PATH" echo is not there."""
    failed = [line for line in lines if line.get("logger") == "app.request"]
    assert [line["status"] for line in failed] == [503] * answered, failed
    for answer in failed:
        same = [line for line in lines if line.get("correlation_id") == answer["correlation_id"]]
        causes = [
            line for line in same if line["message"].startswith("The database is unavailable: ")
        ]
        assert len(causes) == 1, (answer["path"], same)
        assert causes[0]["level"] == "ERROR" and causes[0]["exception_name"], causes
        assert answer["level"] == "ERROR"
    assert not [line for line in lines if line.get("logger") == "django.request"], lines


@pytest.mark.system
@pytest.mark.live(DJANGO_LOG_FORMAT="json")
def test_a_database_outage_is_a_json_503_then_the_same_server_recovers(api_server):
    base = api_server.url
    credentials = {"email": "fault@example.com", "password": PASSWORD}
    call(base, "POST", "/api/register/", credentials)
    pair = call(base, "POST", "/api/login/", credentials).json()
    assert call(base, "GET", "/api/me/", token=pair["access_token"]).status == 200
    try:
        pg("stop")
        logged_before = api_server.log_path.stat().st_size
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
        assert_each_cause_logged_once(json_lines(api_server.log_path, logged_before), len(requests))
        # Access tokens need no database.
        assert call(base, "GET", "/api/me/", token="not-a-token").status == 401
    finally:
        pg("start")
    time.sleep(1)
    recovered = [call(base, "GET", "/api/me/", token=pair["access_token"]).status for _ in range(4)]
    assert recovered == [200] * 4
    assert call(base, "GET", "/api/health/").json() == {"status": "ok"}
    refreshed = call(base, "POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]})
    assert refreshed.status == 200
