"""Cold start and warm latency of the packaged Lambda zip, run offline as Lambda would.

For each zip (ours from ``scripts/package dev`` and Zappa's default from
``scripts/package dev --zappa-default``): unzip it once, as Lambda does, into a folder with the
zip's 1980 timestamps and no bytecode writes (``/var/task`` is read-only), then start fresh
processes that import Zappa's ``handler`` and answer one API Gateway event. Cold start = from
process spawn to that first response, remote_env secrets read from moto_server's S3 on
127.0.0.1, PostgreSQL on 127.0.0.1. Then, warm, the median per endpoint through the handler.
boto3 comes from a separate folder, standing for the one the Lambda runtime provides.

Needs PostgreSQL on 127.0.0.1 (``BENCH_DATABASE_URL``, default database ``lambda_bench`` of
``postgres@127.0.0.1:5432``, created if missing) and builds the zips it lacks.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
sys.path.insert(0, str(ROOT / "scripts"))

import lambda_local  # noqa: E402
from live_server import free_port, wait_for_port  # noqa: E402

COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "5"))
WARM_CALLS = int(os.environ.get("BENCH_WARM_CALLS", "30"))
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lambda_bench"
)
SECRETS = {
    "DJANGO_SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
    "JWT_SIGNING_KEY": "bench-" + uuid.uuid4().hex * 2,
    "DATABASE_URL": DATABASE_URL,
}

# Runs inside the unzipped package: the first response as fast as Lambda would give it.
CHILD = r"""
import json, sys, time
import handler
first_event, warm = json.loads(sys.stdin.read())
result = handler.lambda_handler(first_event, None)
answered = time.time()
out = {"answered_at": answered, "status": result["statusCode"]}
if warm:
    import statistics, uuid
    sys.path.append(warm["scripts"])
    import lambda_local as L
    def call(method, path, body=None, token=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = json.dumps(body) if body else None
        event = L.api_gateway_event(method, path, "", headers, data, "dev")
        start = time.perf_counter()
        response = handler.lambda_handler(event, L.LambdaContext())
        return (time.perf_counter() - start) * 1000, response
    email = f"warm-{uuid.uuid4().hex}@example.com"
    credentials = {"email": email, "password": "correct-horse-battery"}
    assert call("POST", "/api/register/", credentials)[1]["statusCode"] == 201
    timings = {"POST /api/login/": [], "GET /api/me/": [], "POST /api/refresh/": []}
    pair = None
    for _ in range(warm["calls"]):
        ms, response = call("POST", "/api/login/", credentials)
        timings["POST /api/login/"].append(ms)
        pair = json.loads(response["body"])
        ms, response = call("GET", "/api/me/", token=pair["access_token"])
        assert response["statusCode"] == 200, response
        timings["GET /api/me/"].append(ms)
        ms, response = call("POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]})
        assert response["statusCode"] == 200, response
        timings["POST /api/refresh/"].append(ms)
    out["warm"] = {name: statistics.median(values) for name, values in timings.items()}
print(json.dumps(out))
"""


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto_server on 127.0.0.1, with the stage's remote_env secrets in its S3."""
    port = free_port()
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_for_port(port, server, "moto_server", timeout=30)
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=lambda_local.REGION)
    s3.create_bucket(
        Bucket="auth-api-config-dev",
        CreateBucketConfiguration={"LocationConstraint": lambda_local.REGION},
    )
    s3.put_object(Bucket="auth-api-config-dev", Key="secrets.json", Body=json.dumps(SECRETS))
    return server, endpoint


def prepare_database() -> None:
    """Create the benchmark database if needed and migrate it with the development venv."""
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(DATABASE_URL)
    admin = psycopg2.connect(
        host=config["HOST"], port=config["PORT"], user=config["USER"], dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{config["NAME"]}"')
    admin.close()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_DEBUG": "true"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def runtime_boto3() -> Path:
    """boto3 and botocore outside the package, as the Lambda runtime provides them."""
    runtime = BUILD / "lambda-runtime"
    if not (runtime / "boto3").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(runtime), "boto3"],
            check=True,
        )
    return runtime


def unpack(zip_path: Path, into: Path) -> None:
    """Extract as Lambda does: every file dated as its zip entry (1980, from Zappa)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
        for entry in archive.infolist():
            stamp = time.mktime((*entry.date_time, 0, 0, -1))
            os.utime(into / entry.filename, (stamp, stamp))


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


def require_postgresql() -> None:
    """Stop with a sentence, not a traceback, when PostgreSQL is not there."""
    import dj_database_url
    import psycopg2

    config = dj_database_url.parse(DATABASE_URL)
    try:
        psycopg2.connect(
            host=config["HOST"], port=config["PORT"], user=config["USER"], dbname="postgres"
        ).close()
    except psycopg2.OperationalError as error:
        raise SystemExit(
            f"bench_lambda needs PostgreSQL at {config['HOST']}:{config['PORT']} "
            f"(BENCH_DATABASE_URL): {error}".strip()
        ) from None


def main() -> int:
    """Build the two zips if missing, measure, print a Markdown table."""
    require_postgresql()
    # Dummy credentials: every AWS call here goes to moto_server on 127.0.0.1.
    os.environ.update(lambda_local.aws_environment())
    zips = {
        "ours": BUILD / "auth-api-dev.zip",
        "zappa default": BUILD / "auth-api-dev-zappa-default.zip",
    }
    if not zips["zappa default"].exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev", "--zappa-default"], check=True)
    if not zips["ours"].exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    prepare_database()
    runtime = runtime_boto3()
    server, endpoint = start_moto()
    rows = []
    try:
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": "auth-api-dev",
            "AWS_ENDPOINT_URL": endpoint,
            **lambda_local.aws_environment(),
        }
        for label, zip_path in zips.items():
            with tempfile.TemporaryDirectory() as folder:
                task = Path(folder)
                unpack(zip_path, task)
                child_env = {**env, "PYTHONPATH": f"{task}:{runtime}"}
                colds = [run_child(task, child_env, None)[0] for _ in range(COLD_RUNS)]
                warm = None
                if label == "ours":
                    _, out = run_child(
                        task,
                        child_env,
                        {"scripts": str(ROOT / "scripts"), "calls": WARM_CALLS},
                    )
                    warm = out["warm"]
                rows.append((label, zip_path, colds, warm))
    finally:
        server.terminate()
        server.wait()

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
