"""Cold start and warm latency of the packaged Lambda zip, run offline as Lambda would.

For each zip (ours from ``scripts/package dev`` and Zappa's default from
``scripts/package dev --zappa-default``): unzip it once, as Lambda does, into a folder with the
zip's 1980 timestamps and no bytecode writes (``/var/task`` is read-only), then start fresh
processes that import Zappa's ``handler`` and answer one API Gateway event. Cold start = from
process spawn to that first response, remote_env secrets read from moto_server's S3 on
127.0.0.1, PostgreSQL on 127.0.0.1. Then, warm, the median per endpoint through the handler.
boto3 comes from a separate folder, standing for the one the Lambda runtime provides.

Needs PostgreSQL on 127.0.0.1 (a fresh database ``lambda_bench``; ``LIVE_PG`` names the
server) and builds the zips it lacks.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2

from tests.support import PASSWORD
from tests.support import lambda_harness as lambda_local
from tests.support.lambda_package import BUILD, FunctionStage

ROOT = lambda_local.ROOT

COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "30"))

# Runs inside the unzipped package: the first response as fast as Lambda would give it. The
# warm events come ready-made; ACCESS and REFRESH stand for the tokens of the last login.
CHILD = r"""
import json, statistics, sys, time
import handler
first_event, warm = json.loads(sys.stdin.read())
result = handler.lambda_handler(first_event, None)
out = {"answered_at": time.time(), "status": result["statusCode"]}
if warm:
    timings, pair = {}, {}
    for name, event, status in warm:
        event = json.loads(
            json.dumps(event).replace("{ACCESS}", pair.get("access_token", ""))
            .replace("{REFRESH}", pair.get("refresh_token", ""))
        )
        start = time.perf_counter()
        response = handler.lambda_handler(event, None)
        if name != "register":
            timings.setdefault(name, []).append((time.perf_counter() - start) * 1000)
        assert response["statusCode"] == status, response
        if name == "POST /api/login/":
            pair = json.loads(response["body"])
    out["warm"] = {name: statistics.median(values) for name, values in timings.items()}
print(json.dumps(out))
"""


def warm_events(calls: int) -> list:
    """Register once, then ``calls`` rounds of login, me and refresh, as (name, event, status)."""
    credentials = {"email": f"warm-{uuid.uuid4().hex}@example.com", "password": PASSWORD}

    def event(method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return lambda_local.api_gateway_event(
            method, path, "", headers, json.dumps(body) if body else None, "dev"
        )

    rounds = [
        ("POST /api/login/", event("POST", "/api/login/", credentials), 200),
        ("GET /api/me/", event("GET", "/api/me/", token="{ACCESS}"), 200),
        ("POST /api/refresh/", event("POST", "/api/refresh/", {"refresh_token": "{REFRESH}"}), 200),
    ]
    return [("register", event("POST", "/api/register/", credentials), 201), *rounds * calls]


def run_child(task: Path, env: dict, warm: dict | None) -> tuple[float, dict]:
    event = lambda_local.api_gateway_event(
        "POST",
        "/api/refresh/",
        "",
        {"Content-Type": "application/json"},
        json.dumps({"refresh_token": str(uuid.uuid4())}),
        "dev",
    )
    spawned = time.time()
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps([event, warm]),
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["status"] == 401, out
    return (out["answered_at"] - spawned) * 1000, out


def main() -> int:
    """Build the two zips if missing, measure, print a Markdown table."""
    zips = {
        "ours": BUILD / "auth-api-dev.zip",
        "zappa default": BUILD / "auth-api-dev-zappa-default.zip",
    }
    if not zips["zappa default"].exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev", "--zappa-default"], check=True)
    if not zips["ours"].exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    rows = []
    try:
        stage = FunctionStage("bench").__enter__()
    except psycopg2.OperationalError as error:
        # Say what is missing, not a traceback.
        raise SystemExit(
            f"bench_lambda needs PostgreSQL on 127.0.0.1:5432 (LIVE_PG): {error}"
        ) from None
    try:
        for label, zip_path in zips.items():
            task, env = stage.unpacked(zip_path)
            colds = [run_child(task, env, None)[0] for _ in range(COLD_RUNS)]
            warm = None
            if label == "ours":
                _, out = run_child(task, env, warm_events(WARM_CALLS))
                warm = out["warm"]
            rows.append((label, zip_path, colds, warm))
    finally:
        stage.__exit__(None, None, None)

    print(f"| Lambda package (dev) | zipped | cold start, median of {COLD_RUNS} (min-max) |")
    print("|---|---|---|")
    for label, zip_path, colds, _ in rows:
        print(
            f"| {label} ({zip_path.name}) | {zip_path.stat().st_size / 2**20:.1f} MiB | "
            f"{statistics.median(colds):.0f} ms ({min(colds):.0f}-{max(colds):.0f}) |"
        )
    print()
    print(f"| warm, through the handler (median of {WARM_CALLS}) | per call |")
    print("|---|---|")
    for name, ms in rows[0][3].items():
        print(f"| {name} | {ms:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
