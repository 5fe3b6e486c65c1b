"""Cold start and warm latency of the packaged Lambda zip, run offline as Lambda would.

For each zip (ours from ``scripts/package dev`` and Zappa's default from
``scripts/package dev --zappa-default``): unzip it once, as Lambda does, into a folder with the
zip's 1980 timestamps and no bytecode writes (``/var/task`` is read-only), then start fresh
processes that import the zip's handler (ours: ``app.aws.lambda_function``, as
``zappa_settings.json`` names it; the default: Zappa's ``handler``) and answer one API Gateway
event. Cold start = from
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

from devtools import PASSWORD, ROOT
from devtools import lambda_harness as lambda_local
from devtools.lambda_package import (
    BUILD,
    ENTRY_POINT,
    ZAPPA_ENTRY_POINT,
    FunctionStage,
    run_in_package,
    snapstart_rehearsal,
)

COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "30"))

# Runs inside the unzipped package: the first response as fast as Lambda would give it. The
# warm events come ready-made; ACCESS and REFRESH stand for the tokens of the last login.
CHILD = r"""
import json, statistics, sys, time
ENTRY
imported_at = time.time()
first_event, warm = json.loads(sys.stdin.read())
result = lambda_handler(first_event, None)
out = {"imported_at": imported_at, "answered_at": time.time(), "status": result["statusCode"]}
if warm:
    timings, pair = {}, {}
    for name, event, status in warm:
        event = json.loads(
            json.dumps(event).replace("{ACCESS}", pair.get("access_token", ""))
            .replace("{REFRESH}", pair.get("refresh_token", ""))
        )
        start = time.perf_counter()
        response = lambda_handler(event, None)
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

    unknown = {"refresh_token": str(uuid.uuid4())}
    rounds = [
        ("POST /api/refresh/ (unknown token)", event("POST", "/api/refresh/", unknown), 401),
        ("POST /api/login/", event("POST", "/api/login/", credentials), 200),
        ("GET /api/me/", event("GET", "/api/me/", token="{ACCESS}"), 200),
        ("POST /api/refresh/", event("POST", "/api/refresh/", {"refresh_token": "{REFRESH}"}), 200),
    ]
    return [("register", event("POST", "/api/register/", credentials), 201), *rounds * calls]


def run_child(task: Path, env: dict, entry_point: str, warm: list | None) -> tuple[float, dict]:
    """One fresh process: spawn to first response (ms), and what the child reported."""
    event = lambda_local.api_gateway_event(
        "POST",
        "/api/refresh/",
        "",
        {"Content-Type": "application/json"},
        json.dumps({"refresh_token": str(uuid.uuid4())}),
        "dev",
    )
    spawned = time.time()
    out = run_in_package(task, env, CHILD, [event, warm], entry_point)
    assert out["status"] == 401, out
    out["spawned_at"] = spawned
    return (out["answered_at"] - spawned) * 1000, out


def measure(stage: FunctionStage, zips: dict) -> tuple[list, list, list]:
    """Cold starts of each zip, alternated so that both see the same moments of a noisy
    machine, with ours split into init and first invocation; warm medians of ours. Also the
    ratio of each round (the default's cold start over ours, one after the other)."""
    runs = {}
    for label, zip_path in zips.items():
        task, env = stage.unpacked(zip_path)
        # Ours enters where zappa_settings.json says; the default, where Zappa's default does.
        entry = ENTRY_POINT if label == "ours" else ZAPPA_ENTRY_POINT
        runs[label] = (task, env, entry)
    colds = {label: [] for label in zips}
    splits = []
    for _ in range(COLD_RUNS):
        for label, (task, env, entry) in runs.items():
            cold, out = run_child(task, env, entry, None)
            colds[label].append(cold)
            if label == "ours":
                init = (out["imported_at"] - out["spawned_at"]) * 1000
                splits.append((init, (out["answered_at"] - out["imported_at"]) * 1000))
    rounds = [default / ours for ours, default in zip(colds["ours"], colds["zappa default"])]
    task, env, entry = runs["ours"]
    # The registration's verification mail goes to memory in the process itself: on Lambda it
    # would be an invocation moto cannot run, and no figure counts the registration.
    env = {**env, "TASKS_IN_BACKGROUND": "false", "DJANGO_EMAIL_BACKEND": "memory"}
    _, out = run_child(task, env, entry, warm_events(WARM_CALLS))
    # The same zip entered as before app/aws/lambda_function.py: Zappa's handler, started in
    # the init phase. Its warm medians are the "no worse than before" yardstick.
    zappa_env = {**env, "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "true"}
    _, before = run_child(task, zappa_env, ZAPPA_ENTRY_POINT, warm_events(WARM_CALLS))
    rows = [
        (label, zip_path, colds[label], out["warm"] if label == "ours" else before["warm"])
        for label, zip_path in zips.items()
    ]
    return rows, splits, rounds


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
    try:
        with FunctionStage("bench") as stage:
            rows, splits, rounds = measure(stage, zips)
            restored = snapstart_rehearsal(stage, zips["ours"], copies=COLD_RUNS)
    except psycopg2.OperationalError as error:
        # Say what is missing, not a traceback.
        raise SystemExit(
            f"bench_lambda needs PostgreSQL on 127.0.0.1:5432 (LIVE_PG): {error}"
        ) from None

    print(f"| Lambda package (dev) | zipped | cold start, median of {COLD_RUNS} (min-max) |")
    print("|---|---|---|")
    for label, zip_path, colds, _ in rows:
        print(
            f"| {label} ({zip_path.name}) | {zip_path.stat().st_size / 2**20:.1f} MiB | "
            f"{statistics.median(colds):.0f} ms ({min(colds):.0f}-{max(colds):.0f}) |"
        )
    print()
    print(
        f"| warm, median of {WARM_CALLS} | our zip, app.aws.lambda_function | "
        "our zip, through Zappa's handler (the entry before) |"
    )
    print("|---|---|---|")
    warm, before = rows[0][3], rows[1][3]
    for name, ms in warm.items():
        print(f"| {name} | {ms:.1f} ms | {before[name]:.1f} ms |")

    ours, default = (statistics.median(row[2]) for row in rows)
    init = statistics.median(split[0] for split in splits)
    first = statistics.median(split[1] for split in splits)
    restore = statistics.median(copy["restore_to_response_ms"] for copy in restored["copies"])
    warm_login = statistics.median(copy["warm_ms"] for copy in restored["copies"])
    same_request = warm["POST /api/refresh/ (unknown token)"]
    print()
    print("| cold start, this run | figure | ratio |")
    print("|---|---|---|")
    print(f"| Zappa's default zip, spawn to first response | {default:.0f} ms | yardstick |")
    print(
        f"| ours, spawn to first response | {ours:.0f} ms | {default / ours:.1f}x sooner "
        f"(rounds {min(rounds):.1f}x to {max(rounds):.1f}x) |"
    )
    print(f"| ours: init phase (import of the handler) | {init:.0f} ms | |")
    print(
        f"| ours: first invocation after init (POST /api/refresh/) | {first:.1f} ms | "
        f"{first / same_request:.1f}x the warm {same_request:.1f} ms |"
    )
    print(
        f"| ours with SnapStart: restore to first response (login, fork rehearsal) | "
        f"{restore:.0f} ms | {restore / warm_login:.1f}x the warm {warm_login:.0f} ms; "
        f"{default / restore:.1f}x sooner than Zappa's default cold start |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
