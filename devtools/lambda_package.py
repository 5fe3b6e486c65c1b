"""A built Lambda zip, unzipped as Lambda does and run in fresh processes against PostgreSQL and
moto_server on 127.0.0.1: for the package's system test and the cold-start benchmark."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from devtools import PASSWORD, ROOT, lambda_harness, manage, random_keys
from devtools.live_server import fresh_database, wait_until_it_answers
from devtools.zappa import stage_config

BUILD = ROOT / "build"


def unpack(zip_path: Path, into: Path) -> None:
    """Extract as Lambda does: every file dated as its zip entry (1980, from Zappa)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
        for entry in archive.infolist():
            stamp = time.mktime((*entry.date_time, 0, 0, -1))
            os.utime(into / entry.filename, (stamp, stamp))


# A process as Lambda starts one: its sys.path is the package, then the runtime's packages
# (PYTHONPATH below), never this virtualenv's site-packages (-S), so a module the zip lacks
# fails here as it would there, and no cold start is timed with imports the zip does not make.
LAMBDA_PYTHON = (sys.executable, "-S")

# The function's handler, as the stage's configuration names it, and Zappa's default one; a
# child process imports it as ``lambda_handler``.
ENTRY_POINT = stage_config("dev")["lambda_handler"]
ZAPPA_ENTRY_POINT = "handler.lambda_handler"

# What neither the init phase nor a request that sends no mail may load: the AWS SDK (its
# import alone is about 150 ms of a cold start), Zappa's handler and its asynchronous tasks
# (both import it), and django-ses (likewise). A child names them ``AWS_SDK_MODULES``.
AWS_SDK_MODULES = ("boto3", "botocore", "zappa.handler", "zappa.asynchronous", "django_ses")


def run_in_package(
    task: Path, env: dict, child: str, stdin, entry_point: str = ENTRY_POINT
) -> dict:
    """Run ``child`` in a fresh process in the unzipped package ``task``, as Lambda starts one:
    its line ``ENTRY`` becomes the import of ``entry_point`` as ``lambda_handler`` (Lambda's
    init), ``AWS_SDK_MODULES`` the tuple of those names, ``stdin`` goes in as JSON, and the
    JSON of its last line of output comes back."""
    module, _, function = entry_point.rpartition(".")
    source = child.replace("ENTRY", f"from {module} import {function} as lambda_handler")
    result = subprocess.run(
        [*LAMBDA_PYTHON, "-c", source.replace("AWS_SDK_MODULES", repr(AWS_SDK_MODULES))],
        input=json.dumps(stdin),
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# What the Lambda runtime provides outside the package.
RUNTIME_PACKAGES = ["boto3", "snapshot-restore-py==1.0.0"]


def runtime_packages() -> Path:
    """boto3, botocore and snapshot_restore_py outside the package, as Lambda provides them."""
    runtime = BUILD / "lambda-runtime"
    if not (runtime / "snapshot_restore_py.py").is_file():
        # pip's own notices (index, version) would drown the benchmark's report: shown only
        # when the install fails.
        installed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--target",
                str(runtime),
                *RUNTIME_PACKAGES,
            ],
            capture_output=True,
            text=True,
        )
        if installed.returncode:
            raise RuntimeError(f"pip could not install {RUNTIME_PACKAGES}: {installed.stderr}")
    return runtime


class FunctionStage:
    """``with FunctionStage("bench") as stage:``: a fresh, migrated PostgreSQL database and a
    moto_server whose S3 holds the dev stage's secrets; ``stage.unpacked(zip)`` then gives a
    folder and the environment to run the zip's ``handler`` in."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.secrets = random_keys()

    def __enter__(self) -> FunctionStage:
        self.secrets["DATABASE_URL"] = fresh_database(f"lambda_{self.name}")
        self.manage("migrate", "--noinput", "-v0")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.moto = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        try:
            wait_until_it_answers(self.endpoint, self.moto, "moto_server", timeout=30)
            lambda_harness.put_stage_secrets("dev", self.secrets, endpoint_url=self.endpoint)
        except BaseException:
            # __exit__ does not run when __enter__ fails: stop the server here.
            self.moto.kill()
            raise
        self.runtime = runtime_packages()
        self._folders: list[tempfile.TemporaryDirectory] = []
        return self

    def manage(self, *command: str, **env: str) -> None:
        """Run a management command of the repository against this stage's database."""
        manage(
            *command,
            env={
                # The product's settings (Argon2), not the suite's.
                "DJANGO_SETTINGS_MODULE": "app.settings",
                "DATABASE_URL": self.secrets["DATABASE_URL"],
                "DJANGO_DEBUG": "true",
                **env,
            },
        )

    def unpacked(self, zip_path: Path) -> tuple[Path, dict]:
        """Unzip ``zip_path``; return its folder and the environment of a process running it."""
        folder = tempfile.TemporaryDirectory()
        self._folders.append(folder)
        task = Path(folder.name)
        unpack(zip_path, task)
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": f"{task}:{self.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": "auth-api-dev",
            "AWS_ENDPOINT_URL": self.endpoint,
            **lambda_harness.aws_environment(),
        }
        return task, env

    def __exit__(self, *exc) -> None:
        self.moto.terminate()
        self.moto.wait(timeout=30)
        for folder in self._folders:
            folder.cleanup()


# Runs in the unzipped package: init, snapshot hooks, then forked copies (CRIU cannot
# checkpoint on these machines; fork is the snapshot's stand-in).
SNAPSTART_CHILD = r"""
import base64, json, os, sys, time
started = time.perf_counter()
ENTRY
init_ms = (time.perf_counter() - started) * 1000
sdk_after_init = sorted(name for name in AWS_SDK_MODULES if name in sys.modules)
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
        response = lambda_handler(event, None)
        answered = time.perf_counter()
        body = json.loads(response["body"])
        warm = time.perf_counter()
        lambda_handler(event, None)
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
                  "open_at_snapshot": open_at_snapshot, "sdk_after_init": sdk_after_init,
                  "copies": copies}))
"""


def snapstart_rehearsal(stage: FunctionStage, zip_path: Path, copies: int = 3) -> dict:
    """SnapStart offline, in ``stage``: one process does the init phase, runs the
    before-snapshot hooks, then forks ``copies`` restored copies that run the after-restore
    hooks and log in once."""
    stage.manage(
        "createsuperuser",
        "--noinput",
        DJANGO_SUPERUSER_EMAIL="snap@example.com",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    task, env = stage.unpacked(zip_path)
    body = json.dumps({"email": "snap@example.com", "password": PASSWORD})
    login = lambda_harness.api_gateway_event(
        "POST", "/api/login/", "", {"Content-Type": "application/json"}, body, "dev"
    )
    return run_in_package(task, env, SNAPSTART_CHILD, [login] * copies)
