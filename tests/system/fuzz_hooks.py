"""Schemathesis hooks for ``test_fuzz.py``: a bearer token for every authenticated case, real
mail tokens for the link operations, and every answer's status noted.

Each bearer token belongs to a user registered for it, so that fuzzing ``PUT /api/me/`` (which
may change the e-mail) never locks the fuzzer out. A random token never passes the link
operations (password reset confirm, e-mail verify, revert) beyond their first check, so every
other case of theirs is sent with a token the server mailed, read from its mail folder
(``FUZZ_MAIL_PATH``), the rest of the body as generated. Each answer's method, path and
status go to ``FUZZ_STATUS_LOG``, one a line. Loaded through ``SCHEMATHESIS_HOOKS``.
"""

import os
import uuid
from collections import Counter

import requests
import schemathesis

from devtools import PASSWORD
from devtools.mailbox import Mailbox

BASE = os.environ["FUZZ_BASE_URL"]
MAILBOX = Mailbox(os.environ["FUZZ_MAIL_PATH"])
STATUS_LOG = os.environ["FUZZ_STATUS_LOG"]
# Real tokens per link operation at most (each costs a registration and a message or two).
REAL_TOKENS = int(os.environ.get("FUZZ_REAL_TOKENS", "30"))


@schemathesis.auth(refresh_interval=20)
class FreshUserBearer:
    def get(self, case, context):
        """Register a new user, log in, return the access token."""
        credentials = {"email": f"fuzz-{uuid.uuid4().hex}@example.com", "password": PASSWORD}
        requests.post(f"{BASE}/api/register/", json=credentials, timeout=30).raise_for_status()
        response = requests.post(f"{BASE}/api/login/", json=credentials, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def fresh_account() -> dict:
    """A new user's credentials, its verification mail left in the mailbox."""
    credentials = {"email": f"fuzz-{uuid.uuid4().hex}@example.com", "password": PASSWORD}
    requests.post(f"{BASE}/api/register/", json=credentials, timeout=30).raise_for_status()
    return credentials


def verification_token() -> str:
    email = fresh_account()["email"]
    return MAILBOX.take_one(to=email, kind="verify_email").token


def reset_token() -> str:
    email = fresh_account()["email"]
    MAILBOX.take(to=email)
    requests.post(f"{BASE}/api/password/reset/", json={"email": email}, timeout=30)
    return MAILBOX.take_one(to=email, kind="password_reset").token


def revert_token() -> str:
    credentials = fresh_account()
    MAILBOX.take(to=credentials["email"])
    login = requests.post(f"{BASE}/api/login/", json=credentials, timeout=30)
    login.raise_for_status()
    requests.put(
        f"{BASE}/api/me/",
        json={"email": f"moved-{uuid.uuid4().hex}@example.net"},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=30,
    ).raise_for_status()
    return MAILBOX.take_one(to=credentials["email"], kind="email_changed").token


MINTERS = {
    "/api/password/reset/confirm/": reset_token,
    "/api/email/verify/": verification_token,
    "/api/email/revert/": revert_token,
}
seen = Counter()


@schemathesis.hook
def before_call(context, case, **kwargs):
    """Every other case of a link operation whose body has a token gets a real one."""
    mint = MINTERS.get(case.operation.path)
    if mint is None or case.method.upper() != "POST":
        return
    if not (isinstance(case.body, dict) and isinstance(case.body.get("token"), str)):
        return
    seen[case.operation.path] += 1
    if seen[case.operation.path] % 2 == 0 and seen[case.operation.path] <= 2 * REAL_TOKENS:
        case.body = {**case.body, "token": mint()}


@schemathesis.hook
def after_call(context, case, response):
    with open(STATUS_LOG, "a") as log:
        log.write(f"{case.method.upper()} {case.operation.path} {response.status_code}\n")
