"""Fuzz the API against its own OpenAPI schema with schemathesis, on a live server.

Every operation, every phase (examples, coverage, fuzzing, and a stateful run following the
schema's links register -> login -> me / refresh / logout), with the checks for server
errors, status codes, content types, headers and response schemas; every bearer operation
with a valid bearer token of a fresh user, and the link operations (password reset confirm,
e-mail verify and revert) half the time with a token the server mailed (``fuzz_hooks.py``).
The verdict is read from schemathesis's JSON report, never from its console text, and from the
hooks' log of every status. ``FUZZ_MAX_TIME`` bounds it (90 s).
"""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from devtools import ROOT

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "1000"))
# Operations whose success path the fuzzing must reach (a 2xx at least once).
MUST_SUCCEED = [
    "POST /api/password/reset/",
    "POST /api/password/reset/confirm/",
    "POST /api/email/verify/",
    "POST /api/email/verify/resend/",
    "POST /api/email/revert/",
    "GET /api/me/email/",
]


@pytest.mark.system
# Throttling would answer 429 (documented) to most generated logins and registrations.
@pytest.mark.live(
    LOGIN_THROTTLE_PER_PAIR="1000000",
    LOGIN_THROTTLE_PER_ADDRESS="1000000",
    LOGIN_THROTTLE_CEILING="1000000",
    LOGIN_THROTTLE_SUCCESSES="1000000",
    EMAIL_CHANGE_THROTTLE_PER_USER="1000000",
    EMAIL_CHANGE_THROTTLE_PER_ADDRESS="1000000",
    REGISTER_THROTTLE_PER_ADDRESS="1000000",
    MAIL_THROTTLE_PER_EMAIL="1000000",
    MAIL_THROTTLE_PER_ADDRESS="1000000",
)
def test_every_operation_conforms_to_the_schema_under_fuzzing(api_server):
    report = ROOT / "build" / "fuzz-report.json"
    report.unlink(missing_ok=True)
    status_log = ROOT / "build" / "fuzz-statuses.txt"
    status_log.unlink(missing_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{api_server.url}/api/schema/",
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            os.environ.get("FUZZ_MAX_EXAMPLES", "100"),
            "--max-time",
            os.environ.get("FUZZ_MAX_TIME", "90"),
            "--seed",
            os.environ.get("FUZZ_SEED", "20261123"),
            "--request-timeout",
            "30",
            "--report",
            "json,junit",
            "--report-json-path",
            str(report),
            "--report-junit-path",
            str(ROOT / "build" / "fuzz-junit.xml"),
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "FUZZ_BASE_URL": api_server.url,
            "SCHEMATHESIS_HOOKS": "tests.system.fuzz_hooks",
            "FUZZ_MAIL_PATH": str(api_server.mailbox.path),
            "FUZZ_STATUS_LOG": str(status_log),
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
    )
    (ROOT / "build" / "fuzz.txt").write_text(result.stdout + result.stderr)
    summary = json.loads(report.read_text())
    print(f"fuzz: {summary['test_cases']['generated']} generated requests")
    assert summary["failures"] == [] and summary["errors"] == [], "see build/fuzz.txt"
    assert result.returncode == 0, "see build/fuzz.txt"
    assert summary["operations"]["tested"] == summary["operations"]["total"]
    assert summary["test_cases"]["generated"] >= MIN_CASES
    assert {name: phase["status"] for name, phase in summary["phases"].items()} == {
        "examples": "success",
        "coverage": "success",
        "fuzzing": "success",
        "stateful": "success",
    }
    # The profile operations were fuzzed with valid tokens, not only refused: schemathesis
    # would list them here. (Refresh answers 401 to random tokens by design.)
    refused_only = set(summary["warnings"]["missing_auth"])
    bearer = {
        "GET /api/me/",
        "PUT /api/me/",
        "PATCH /api/me/",
        "GET /api/me/email/",
        "POST /api/email/verify/resend/",
    }
    assert not refused_only & bearer, refused_only
    # Every answer, as the hooks saw it: none a 5xx, and each new operation succeeded.
    answers = Counter(tuple(line.rsplit(" ", 1)) for line in status_log.read_text().splitlines())
    assert not [answer for answer in answers if answer[1].startswith("5")], answers
    succeeded = {operation for operation, status in answers if status.startswith("2")}
    assert set(MUST_SUCCEED) <= succeeded, set(MUST_SUCCEED) - succeeded
    print(
        "fuzz: statuses of the link operations:",
        {answer: count for answer, count in sorted(answers.items()) if answer[0] in MUST_SUCCEED},
    )
