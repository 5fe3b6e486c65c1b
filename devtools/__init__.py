"""The development toolkit: what the tests and the local tools (``scripts/lambda-serve``, the
benchmarks) share to stand in for AWS and production. Never imported by the product, never
in the Lambda zip, and never importing ``tests``.

- ``http``: one small HTTP client for servers on 127.0.0.1, and what pages link;
- ``live_server``: gunicorn and lambda-serve on 127.0.0.1, fresh PostgreSQL databases;
- ``mailbox``: the messages a server wrote with the ``file`` mail backend, and their links;
- ``lambda_harness``: Lambda events, the entry point in-process, moto's S3;
- ``lambda_package``: a built zip run as Lambda runs it.
"""

import functools
import os
import secrets
import subprocess
import sys
from pathlib import Path

# The repository's root.
ROOT = Path(__file__).resolve().parents[1]

# A password Django's validators accept, for every account a test or a tool makes.
PASSWORD = "correct-horse-battery"

# The API's paths as the OpenAPI schema (and Swagger UI) names them.
API_PATHS = [
    "/api/register/",
    "/api/login/",
    "/api/refresh/",
    "/api/logout/",
    "/api/logout/all/",
    "/api/me/",
    "/api/me/password/",
    "/api/me/email/",
    "/api/me/events/",
    "/api/password/reset/",
    "/api/password/reset/confirm/",
    "/api/email/verify/",
    "/api/email/verify/resend/",
    "/api/email/revert/",
    "/api/health/",
    "/api/sessions/",
    "/api/sessions/{session_id}/",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
]


# The issuer of a process on 127.0.0.1 with debug off (http is allowed on a loopback address);
# a live server puts its own URL in its place.
LOCAL_ISSUER = "http://127.0.0.1"


def random_key() -> str:
    """A fresh random key as the settings want one (over 32 bytes), for a throwaway process."""
    return secrets.token_urlsafe(48)


@functools.cache
def random_signing_key(algorithm: str = "RS256") -> str:
    """A private key for access tokens in PEM, made once per process (RSA takes tens of
    milliseconds), for throwaway processes."""
    from app.accounts.keys import generate

    return generate(algorithm)


def random_keys() -> dict[str, str]:
    """What a throwaway process with debug off needs, as environment variables: a random
    Django secret key, an RS256 signing key in PEM and a loopback issuer."""
    return {
        "DJANGO_SECRET_KEY": random_key(),
        "JWT_PRIVATE_KEY": random_signing_key(),
        "JWT_ISSUER": LOCAL_ISSUER,
    }


def manage(*command: str, env: dict[str, str] | None = None, quiet: bool = True) -> None:
    """Run ``manage.py COMMAND`` of this repository in a fresh process with ``os.environ``
    updated by ``env``; raise if it fails."""
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *command],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )
