"""A SnapStart rehearsal, offline: the init phase, the snapshot, restored copies.

One process does Lambda's init phase with the lean package (``INSTANTIATE_LAMBDA_HANDLER_ON_
IMPORT``: Zappa's handler, the secrets from moto's S3, Django set up, the URLconf loaded), runs
the before-snapshot hooks from the runtime's ``snapshot_restore_py`` registry (last registered
first, as the runtime does), then forks children that stand for restored instances (CRIU cannot
checkpoint on these machines): each runs the after-restore hooks in order, then answers one
API Gateway event, against PostgreSQL on 127.0.0.1.
"""

import json
import subprocess
import sys

import pytest

from tests.support import PASSWORD
from tests.support.lambda_harness import api_gateway_event
from tests.support.lambda_package import BUILD, FunctionStage
from tests.support.live_server import ROOT

ZIP = BUILD / "auth-api-dev.zip"
COPIES = 3

CHILD = r"""
import base64, json, os, sys, time
started = time.perf_counter()
import handler
init_ms = (time.perf_counter() - started) * 1000
import snapshot_restore_py as registry
from django.db import connections
open_after_init = [c.alias for c in connections.all() if c.connection is not None]
for hook, args, kwargs in reversed(registry.get_before_snapshot()):
    hook(*args, **kwargs)
open_at_snapshot = [c.alias for c in connections.all() if c.connection is not None]
events = json.loads(sys.stdin.read())
copies = []
for event in events:
    reader, writer = os.pipe()
    if os.fork() == 0:
        os.close(reader)
        restored = time.perf_counter()
        for hook, args, kwargs in registry.get_after_restore():
            hook(*args, **kwargs)
        response = handler.lambda_handler(event, None)
        answered = time.perf_counter()
        body = json.loads(response["body"])
        warm = time.perf_counter()
        handler.lambda_handler(event, None)
        out = {"status": response["statusCode"], "body": body,
               "restore_to_response_ms": (answered - restored) * 1000,
               "warm_ms": (time.perf_counter() - warm) * 1000}
        os.write(writer, json.dumps(out).encode())
        os._exit(0)
    os.close(writer)
    data = b""
    while chunk := os.read(reader, 65536):
        data += chunk
    os.wait()
    copies.append(json.loads(data))
print(json.dumps({"init_ms": init_ms, "open_after_init": open_after_init,
                  "open_at_snapshot": open_at_snapshot, "copies": copies}))
"""


def rehearse(zip_path, copies=COPIES) -> dict:
    """Run the rehearsal with ``copies`` restored copies, each logging in once; its report."""
    with FunctionStage("snapstart") as stage:
        stage.manage(
            "createsuperuser",
            "--noinput",
            DJANGO_SUPERUSER_EMAIL="snap@example.com",
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        task, env = stage.unpacked(zip_path)
        body = json.dumps({"email": "snap@example.com", "password": PASSWORD})
        login = api_gateway_event(
            "POST", "/api/login/", "", {"Content-Type": "application/json"}, body, "dev"
        )
        result = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=json.dumps([login] * copies),
            cwd=task,
            env={**env, "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "true"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.system
def test_restored_copies_answer_on_fresh_connections_with_tokens_of_their_own():
    if not ZIP.exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    report = rehearse(ZIP)
    print(json.dumps({key: value for key, value in report.items() if key != "copies"}))
    # Django was set up in the init phase without touching the database.
    assert report["open_after_init"] == [] and report["open_at_snapshot"] == []
    copies = report["copies"]
    assert [copy["status"] for copy in copies] == [200] * COPIES
    refresh_tokens = {copy["body"]["refresh_token"] for copy in copies}
    access_tokens = [copy["body"]["access_token"] for copy in copies]
    jtis = {json.loads(_payload(token))["jti"] for token in access_tokens}
    assert len(refresh_tokens) == COPIES and len(jtis) == COPIES
    for copy in copies:
        restore, warm = copy["restore_to_response_ms"], copy["warm_ms"]
        print(f"restore to response {restore:.0f} ms, warm {warm:.0f} ms")


def _payload(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
