"""The API served as in production, on 127.0.0.1, for the system tests: gunicorn worker
processes (debug off, Argon2) on a fresh PostgreSQL database, and ``scripts/lambda-serve``.

Neither guesses a free port: gunicorn gets a socket bound to port 0 here (``--bind fd://``), and
lambda-serve binds port 0 itself and says which port it got.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import dj_database_url
import psycopg2

from devtools import LOCAL_ISSUER, ROOT, manage, random_keys
from devtools.http import request
from devtools.mailbox import Mailbox

PG_SERVER = os.environ.get("LIVE_PG", "postgres://postgres@127.0.0.1:5432/postgres")


def wait_until_it_answers(url: str, process: subprocess.Popen, what: str, timeout=120) -> None:
    """Return once ``url`` answers HTTP (any status); raise if ``process`` exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if request(url).status:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


def fresh_database(name: str) -> str:
    """Drop and create database ``name`` on the local PostgreSQL; return its URL."""
    config = dj_database_url.parse(PG_SERVER)
    admin = psycopg2.connect(
        host=config["HOST"], port=config["PORT"], user=config["USER"], dbname=config["NAME"]
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return f"postgres://{config['USER']}@{config['HOST']}:{config['PORT']}/{name}"


def start_lambda_serve(
    database_url: str, log, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start ``scripts/lambda-serve`` on a port it picks (with ``env``, else ours); return it
    and its ``/dev`` base URL."""
    process = subprocess.Popen(
        [str(ROOT / "scripts/lambda-serve"), "--port", "0", "--database-url", database_url],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    # Other lines may come first (the init phase's); the URL line says the server is up.
    for line in process.stdout:
        found = re.search(r"lambda-serve: http://127\.0\.0\.1:(\d+)/", line)
        if found:
            # The function's stdout goes on (its EMF lines, one per invocation): into the log,
            # or a full pipe would stop the server mid-write.
            threading.Thread(target=_copy_lines, args=(process.stdout, log), daemon=True).start()
            return process, f"http://127.0.0.1:{found[1]}/dev"
    process.kill()
    raise RuntimeError("lambda-serve exited before it served")


def _copy_lines(source, log) -> None:
    """Copy ``source`` into ``log`` line by line until either ends."""
    for line in source:
        try:
            log.write(line)
        except ValueError:  # the log was closed: the server is being stopped
            return


def start_gunicorn(env: dict, *, workers: int, log) -> tuple[subprocess.Popen, str, socket.socket]:
    """gunicorn serving ``app.wsgi`` with ``env`` on a socket bound here to a free port.

    Returns the process, its URL and the socket (close it once the process has stopped).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    descriptor = listener.fileno()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    if env.get("JWT_ISSUER") == LOCAL_ISSUER:
        # Tokens and the discovery document name this server, so its jwks_uri answers.
        env = {**env, "JWT_ISSUER": url}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "app.wsgi:application",
            "--bind",
            f"fd://{descriptor}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=[descriptor],
    )
    wait_until_it_answers(f"{url}/api/", process, "gunicorn")
    return process, url, listener


class LiveServer:
    """``with LiveServer("fuzz", workers=2) as server:`` then ``server.url``.

    Its messages go to a directory of its own through Django's ``file`` backend (no SMTP
    server runs here), emptied at start, read with ``server.mailbox``; ``DJANGO_EMAIL_BACKEND``
    or ``DJANGO_EMAIL_FILE_PATH`` among ``settings`` replace that.
    """

    def __init__(self, name: str, *, workers: int = 2, **settings: str) -> None:
        self.name = name
        self.workers = workers
        self.url = ""
        self.database_url = fresh_database(f"live_{name}")
        # Each message the server sends is a file here (Django's file backend), never mail.
        self.mail_dir = ROOT / "build" / f"mail-{name}"
        shutil.rmtree(self.mail_dir, ignore_errors=True)
        self.mailbox = Mailbox(settings.get("DJANGO_EMAIL_FILE_PATH", self.mail_dir))
        self.env = {
            **os.environ,
            # The product's settings (Argon2), not the suite's, whoever starts the server.
            "DJANGO_SETTINGS_MODULE": "app.settings",
            "DATABASE_URL": self.database_url,
            "DJANGO_DEBUG": "false",
            **random_keys(),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_EMAIL_BACKEND": "file",
            "DJANGO_EMAIL_FILE_PATH": str(self.mail_dir),
            **settings,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "build" / f"live-{name}.log"

    def manage(self, *command: str) -> None:
        """Run a management command against this server's database."""
        manage(*command, env=self.env)

    def start(self) -> None:
        """Migrate, collect static files, start gunicorn on our socket, wait until it answers."""
        self.log_path.parent.mkdir(exist_ok=True)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.log = self.log_path.open("w")
        self.process, self.url, self.socket = start_gunicorn(
            self.env, workers=self.workers, log=self.log
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self.process:
            self.log.close()
            self.socket.close()

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
