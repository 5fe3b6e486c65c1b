"""The API served as in production by gunicorn worker processes on 127.0.0.1, for the fuzz,
load, fault and browser checks: debug off, Argon2, PostgreSQL, a fresh database each time.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import dj_database_url
import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("LIVE_PG", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A TCP port nobody listens on, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    """Return once ``process`` accepts connections on ``port``; raise if it exits or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


def start_lambda_serve(database_url: str, log) -> tuple[subprocess.Popen, str]:
    """Start ``scripts/lambda-serve`` on a free port; return it and its ``/dev`` base URL."""
    port = free_port()
    process = subprocess.Popen(
        [str(ROOT / "scripts/lambda-serve"), "--port", str(port), "--database-url", database_url],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process, "lambda-serve")
    except RuntimeError:
        process.kill()
        raise
    return process, f"http://127.0.0.1:{port}/dev"


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


class LiveServer:
    """``with LiveServer("fuzz", workers=2) as server:`` then ``server.url``."""

    def __init__(self, name: str, *, workers: int = 2, **settings: str) -> None:
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = fresh_database(f"live_{name}")
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(40),
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{self.port}",
            **settings,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "build" / f"live-{name}.log"

    def manage(self, *command: str) -> None:
        """Run a management command against this server's database."""
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        """Migrate, collect static files, start gunicorn and wait until it answers."""
        self.log_path.parent.mkdir(exist_ok=True)
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "app.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process, f"gunicorn (log: {self.log_path})", timeout=60)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if self.process:
            self.log.close()

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
