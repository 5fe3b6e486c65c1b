"""A bounded load run: 50 clients (20 s; ``scripts/bench`` gives it 60) against gunicorn
workers on PostgreSQL, 127.0.0.1.

Each client registers its own account, logs in, then loops until the deadline over a mix of
``GET /api/me/`` (60 %), ``POST /api/refresh/`` (30 %) and ``POST /api/login/`` (10 %),
refreshing first whenever its access token is over 20 s old. Afterwards it checks zero 5xx,
and in the database that every successful refresh used up exactly one token and none was
used twice (no session revoked for reuse). Prints requests per second and p50/p99 latency per
endpoint. ``LOAD_CLIENTS``, ``LOAD_SECONDS`` and ``LOAD_WORKERS`` change the size.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict

import psycopg2
import pytest

from devtools import PASSWORD
from devtools.http import request

CLIENTS = int(os.environ.get("LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "20"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "4"))
MIX = [("me", 0.6), ("refresh", 0.3), ("login", 0.1)]
ENDPOINTS = {
    "login": "POST /api/login/",
    "me": "GET /api/me/",
    "refresh": "POST /api/refresh/",
    "register": "POST /api/register/",
}


class Client(threading.Thread):
    def __init__(self, number, url, start_gate, deadline, results):
        super().__init__(daemon=True)
        self.url = url
        self.start_gate = start_gate
        self.deadline = deadline
        self.results = results
        self.random = random.Random(number)
        self.credentials = {"email": f"load{number}@example.com", "password": PASSWORD}
        self.pair = None
        self.issued = 0.0

    def request(self, name, method, path, body=None, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        start = time.perf_counter()
        reply = request(self.url + path, method, body, headers)
        # No answer at all counts as a server error.
        status = reply.status or 599
        self.results.record(name, status, time.perf_counter() - start)
        return status, reply.content

    def login(self):
        status, data = self.request("login", "POST", "/api/login/", self.credentials)
        if status == 200:
            self.pair, self.issued = json.loads(data), time.monotonic()

    def refresh(self):
        body = {"refresh_token": self.pair["refresh_token"]}
        status, data = self.request("refresh", "POST", "/api/refresh/", body)
        if status == 200:
            self.pair, self.issued = json.loads(data), time.monotonic()
            self.results.refreshed()
        else:
            self.login()

    def run(self):
        self.request("register", "POST", "/api/register/", self.credentials)
        self.login()
        self.start_gate.wait()
        while time.monotonic() < self.deadline:
            if self.pair is None:
                self.login()
                continue
            if time.monotonic() - self.issued > 20:
                self.refresh()
                continue
            action = self.random.choices([a for a, _ in MIX], [w for _, w in MIX])[0]
            if action == "me":
                self.request("me", "GET", "/api/me/", token=self.pair["access_token"])
            else:
                getattr(self, action)()


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)
        self.statuses = defaultdict(Counter)
        self.refreshes = 0
        self.measuring = False

    def record(self, name, status, seconds):
        with self.lock:
            if self.measuring or name == "register":
                self.latencies[name].append(seconds)
                self.statuses[name][status] += 1

    def refreshed(self):
        with self.lock:
            self.refreshes += 1


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.mark.system
# Every client registers from 127.0.0.1, where real clients come from many addresses.
@pytest.mark.live(workers=WORKERS, REGISTER_THROTTLE_PER_ADDRESS=str(CLIENTS))
def test_fifty_clients_get_no_5xx_and_every_refresh_uses_up_exactly_one_token(api_server):
    """Run, print the table; no 5xx, and no token used twice."""
    results = Results()
    server = api_server
    clients = []
    timing = {}

    def begin():
        # The barrier's action: runs once every client has logged in, before any goes on, so
        # that each sees its deadline (set afterwards, a client could find it still 0 and stop).
        timing["started"] = time.monotonic()
        for client in clients:
            client.deadline = timing["started"] + SECONDS
        with results.lock:
            results.measuring = True
            timing["refreshes_before"] = results.refreshes

    start_gate = threading.Barrier(CLIENTS + 1, action=begin)
    for number in range(CLIENTS):
        client = Client(number, server.url, start_gate, 0, results)
        clients.append(client)
        client.start()
    start_gate.wait()
    started, refreshes_before = timing["started"], timing["refreshes_before"]
    for client in clients:
        client.join(timeout=SECONDS + 120)
    elapsed = time.monotonic() - started
    with psycopg2.connect(server.database_url.replace("postgres://", "postgresql://")) as db:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE used_at IS NOT NULL), count(*)"
                " FROM accounts_refreshtoken"
            )
            used, rows = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM accounts_session WHERE revoked_at IS NOT NULL")
            (revoked,) = cursor.fetchone()
    total = sum(sum(c.values()) for name, c in results.statuses.items() if name != "register")
    server_errors = sum(
        count for c in results.statuses.values() for status, count in c.items() if status >= 500
    )
    print(
        f"| endpoint ({CLIENTS} clients, {elapsed:.0f} s, {WORKERS} gunicorn workers, "
        "PostgreSQL) | requests | req/s | p50 | p99 | statuses |"
    )
    print("|---|---|---|---|---|---|")
    for name in ("login", "me", "refresh"):
        values = results.latencies[name]
        if not values:
            continue
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(results.statuses[name].items()))
        print(
            f"| {ENDPOINTS[name]} | {len(values)} | {len(values) / elapsed:.1f} | "
            f"{percentile(values, 0.5) * 1000:.0f} ms | {percentile(values, 0.99) * 1000:.0f} ms | "
            f"{statuses} |"
        )
    print(f"| all | {total} | {total / elapsed:.1f} | | | 5xx: {server_errors} |")
    print(
        f"refresh tokens: {rows} rows, {used} used up; sessions ended: {revoked}; "
        f"successful refreshes: {results.refreshes} ({results.refreshes - refreshes_before} "
        "while measuring)"
    )
    # The run measured something: every client made requests, and refreshes happened.
    assert total >= CLIENTS, f"only {total} requests in {elapsed:.1f} s"
    assert results.refreshes > refreshes_before, "no refresh while measuring"
    assert server_errors == 0, f"{server_errors} responses were 5xx"
    assert used == results.refreshes, f"{used} tokens used up for {results.refreshes} refreshes"
    assert revoked == 0, f"{revoked} sessions ended: a refresh token was presented twice"
