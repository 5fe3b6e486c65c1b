"""Fuzz the API against its own OpenAPI schema with schemathesis, on a live server.

Every operation, every phase (examples, coverage, fuzzing, and a stateful run following the
schema's links register -> login -> me / refresh / logout), with the checks for server
errors, status codes, content types, headers and response schemas. Fails on any failure, or
when fewer than ``FUZZ_MIN_CASES`` requests were generated. Bounded by ``--max-time``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import ROOT, LiveServer

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "1000"))
MAX_EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "100")
MAX_TIME = os.environ.get("FUZZ_MAX_TIME", "240")


def main() -> int:
    """Run schemathesis against a fresh server; print its summary and our verdict."""
    # Throttling would answer 429 (documented) to most generated logins and registrations.
    with LiveServer(
        "fuzz",
        LOGIN_THROTTLE_PER_EMAIL="1000000",
        LOGIN_THROTTLE_PER_ADDRESS="1000000",
        REGISTER_THROTTLE_PER_ADDRESS="1000000",
    ) as server:
        env = {
            **os.environ,
            "FUZZ_BASE_URL": server.url,
            "SCHEMATHESIS_HOOKS": "fuzz_hooks",
            "PYTHONPATH": str(ROOT / "scripts"),
        }
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{server.url}/api/schema/",
                "--checks",
                CHECKS,
                "--max-examples",
                MAX_EXAMPLES,
                "--max-time",
                MAX_TIME,
                "--seed",
                os.environ.get("FUZZ_SEED", "20261123"),
                "--request-timeout",
                "30",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
    output = result.stdout + result.stderr
    (ROOT / "build" / "fuzz.txt").write_text(output)
    print(output[output.find("=" * 20) :] if "=" * 20 in output else output)
    generated = re.search(r"(\d+) generated", output)
    count = int(generated[1]) if generated else 0
    stateful = re.search(
        r"Stateful.*?\n\s+Scenarios:\s+(\d+)\n\s+API Links:\s+(\d+) covered", output, re.S
    )
    print(
        f"fuzz: {count} generated requests (at least {MIN_CASES} wanted), "
        f"stateful scenarios {stateful[1] if stateful else 0}, links covered "
        f"{stateful[2] if stateful else 0}, schemathesis exit {result.returncode}"
    )
    if result.returncode != 0 or count < MIN_CASES or not stateful:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
