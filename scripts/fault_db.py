"""Stop PostgreSQL under a running server, then start it again: JSON 503s, then recovery.

Serves the API with gunicorn on 127.0.0.1 (``live_server``), checks it works, stops the local
PostgreSQL cluster with ``pg_ctlcluster`` (root, as in CI), checks that every API call that
needs the database answers 503 in the API's JSON error shape with ``Retry-After`` (no HTML,
no stack trace) and that token checks that need no database still work, starts PostgreSQL
again and checks that the same server answers 200 again without a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import LiveServer

CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", *os.listdir("/etc/postgresql"), "main"]
PASSWORD = "correct-horse-battery"


def call(base, method, path, body=None, token=None):
    """One request; returns (status, headers, parsed JSON or raw text)."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        return status, headers, json.loads(raw)
    except ValueError:
        return status, headers, raw.decode(errors="replace")


def pg(action: str) -> None:
    subprocess.run([*CLUSTER, action], check=True)
    if action == "start":
        for _ in range(60):
            ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False)
            if ready.returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("PostgreSQL did not come back")


def main() -> int:
    """Exit 0 when every expectation held; PostgreSQL is always started again."""
    problems = []

    def expect(condition, message):
        print(("ok   " if condition else "FAIL ") + message)
        if not condition:
            problems.append(message)

    with LiveServer("fault", workers=2) as server:
        base = server.url
        credentials = {"email": "fault@example.com", "password": PASSWORD}
        call(base, "POST", "/api/register/", credentials)
        _, _, pair = call(base, "POST", "/api/login/", credentials)
        expect(call(base, "GET", "/api/me/", token=pair["access_token"])[0] == 200, "me before")
        try:
            pg("stop")
            requests = [
                ("POST", "/api/login/", credentials, None),
                ("POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]}, None),
                ("GET", "/api/me/", None, pair["access_token"]),
                ("POST", "/api/register/", {"email": "x@example.com", "password": PASSWORD}, None),
            ]
            for method, path, body, token in requests:
                status, headers, data = call(base, method, path, body, token)
                expect(
                    status == 503
                    and headers.get("Content-Type") == "application/json"
                    and isinstance(data, dict)
                    and data.get("code") == "service_unavailable"
                    and headers.get("Retry-After") is not None
                    and "Traceback" not in json.dumps(data),
                    f"{method} {path} with PostgreSQL stopped: {status} {data}",
                )
            status, _, data = call(base, "GET", "/api/me/", token="not-a-token")
            expect(status == 401, f"a bad token is still refused without the database: {status}")
        finally:
            pg("start")
        time.sleep(1)
        recovered = [call(base, "GET", "/api/me/", token=pair["access_token"])[0] for _ in range(4)]
        expect(recovered == [200] * 4, f"me after PostgreSQL is back, same server: {recovered}")
        status, _, data = call(
            base, "POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]}
        )
        expect(status == 200, f"refresh after PostgreSQL is back: {status}")
    print(f"database outage: {'passed' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
