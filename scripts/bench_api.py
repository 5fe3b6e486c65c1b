"""In-process API figures: median time and database queries per call of login, refresh, me.

Run by ``scripts/bench`` (SQLite, or PostgreSQL when DATABASE_URL says so). Uses a throwaway
test database and the production password hasher (Argon2), through Django's test client.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from devtools import PASSWORD, random_keys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
# Local settings (no HTTPS redirect for the test client), keys random for this process.
os.environ.setdefault("DJANGO_DEBUG", "true")
for _name, _key in random_keys().items():
    os.environ.setdefault(_name, _key)
# Hundreds of logins of one user in a minute: the limit on successful logins would stop them.
os.environ.setdefault("LOGIN_THROTTLE_SUCCESSES", "1000000")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "200"))
# BENCH_CROWDED=0 leaves out the rows measured with 10,000 sessions in the table.


def measure(label: str, call, count: int = CALLS) -> tuple[str, float, float]:
    """Median milliseconds and mean queries of ``count`` calls (after one warm-up call)."""
    call()
    timings, queries = [], 0
    for _ in range(count):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            call()
            timings.append(time.perf_counter() - start)
        queries += len(captured)
    return label, statistics.median(timings) * 1000, queries / count


SESSION_ROWS = 10_000


def crowded_sessions(client, state, login, me) -> list[tuple[str, float, float]]:
    """The sessions list and a login with 10,000 session rows of the user in the table: half
    ended, half live (the session cap raised so that they stay), and the events list with
    10,000 events of the user among 20,000, measured beside ``me``."""
    from datetime import timedelta

    from django.test import override_settings
    from django.utils import timezone

    from app.accounts.models import SecurityEvent, Session, User

    user = User.objects.get(email="bench@example.com")
    stamp = Session.objects.filter(user=user).first().password_stamp
    now = timezone.now()
    Session.objects.bulk_create(
        Session(
            user=user,
            created_at=now - timedelta(seconds=number),
            last_used_at=now - timedelta(seconds=number),
            authenticated_at=now - timedelta(seconds=number),
            expires_at=now + timedelta(days=30),
            revoked_at=now if number % 2 else None,
            password_stamp=stamp,
        )
        for number in range(SESSION_ROWS)
    )
    # And as many events of the user, with 10,000 of other accounts beside them.
    SecurityEvent.objects.bulk_create(
        SecurityEvent(
            name=SecurityEvent.Name.LOGIN_FAIL,
            reason="wrong_password",
            at=now - timedelta(seconds=number),
            user=user if number % 2 else None,
            address="198.51.100.7",
        )
        for number in range(SESSION_ROWS * 2)
    )
    authorization = {"HTTP_AUTHORIZATION": f"Bearer {state['access_token']}"}

    def events_page(size: int):
        def call():
            response = client.get("/api/me/events/", {"page_size": size}, **authorization)
            assert response.status_code == 200, response.content
            assert len(response.json()["results"]) == size

        return call

    def sessions_page(size: int):
        def call():
            response = client.get("/api/sessions/", {"page_size": size}, **authorization)
            assert response.status_code == 200, response.content
            assert len(response.json()["results"]) == size

        return call

    with override_settings(SESSIONS_PER_USER=SESSION_ROWS * 2):
        return [
            measure(f"GET /api/sessions/, {SESSION_ROWS:,} rows, page of 50", sessions_page(50)),
            measure(f"GET /api/sessions/, {SESSION_ROWS:,} rows, page of 100", sessions_page(100)),
            measure(
                f"GET /api/me/events/, {SESSION_ROWS:,} own events, page of 50", events_page(50)
            ),
            measure(f"GET /api/me/, {SESSION_ROWS:,} rows (yardstick)", me),
            measure(
                f"POST /api/login/, {SESSION_ROWS:,} rows (Argon2)",
                login,
                count=max(20, CALLS // 10),
            ),
        ]


def main() -> int:
    """Print a Markdown table of the three endpoints."""
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0)
    try:
        client = APIClient()
        credentials = {"email": "bench@example.com", "password": PASSWORD}
        assert client.post("/api/register/", credentials, format="json").status_code == 201

        def login():
            response = client.post("/api/login/", credentials, format="json")
            assert response.status_code == 200, response.content
            return response.json()

        state = login()

        def refresh():
            response = client.post(
                "/api/refresh/", {"refresh_token": state["refresh_token"]}, format="json"
            )
            assert response.status_code == 200, response.content
            state.update(response.json())

        def me():
            response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {state['access_token']}")
            assert response.status_code == 200, response.content

        rows = [
            measure("POST /api/login/ (Argon2)", login, count=max(20, CALLS // 10)),
            measure("POST /api/refresh/", refresh),
            measure("GET /api/me/", me),
        ]
        if os.environ.get("BENCH_CROWDED", "1") == "1":
            rows += crowded_sessions(client, state, login, me)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(f"| endpoint ({connection.vendor}, in-process) | median per call | queries per call |")
    print("|---|---|---|")
    for label, median_ms, queries in rows:
        print(f"| {label} | {median_ms:.2f} ms | {queries:g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
