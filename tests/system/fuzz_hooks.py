"""Schemathesis hooks for ``test_fuzz.py``: a bearer token for every authenticated case.

Each token belongs to a user registered for it, so that fuzzing ``PUT /api/me/`` (which may
change the e-mail) never locks the fuzzer out. Loaded through ``SCHEMATHESIS_HOOKS``.
"""

import os
import uuid

import requests
import schemathesis

from devtools import PASSWORD

BASE = os.environ["FUZZ_BASE_URL"]


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
