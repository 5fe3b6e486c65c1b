"""The stage's secrets (Zappa's ``remote_env``: a JSON object in S3), read without the AWS SDK.

Zappa's handler reads them with boto3, whose import alone costs about 150 ms of every cold
start. This reads the one object with one GET signed by Signature Version 4, with the
function's own credentials from its environment; ``tests/app_tests/test_remote_env.py``
checks the signature against botocore's signer.
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()


class RemoteEnvError(RuntimeError):
    """The secrets could not be read: the function must not start without them."""


def load(url: str, *, environ: dict | None = None) -> dict[str, str]:
    """Read the JSON object at ``url`` (``s3://bucket/key``) and put each value in ``environ``
    (``os.environ`` by default); return what was read."""
    return load_in_background(url, environ=environ)()


def load_in_background(url: str, *, environ: dict | None = None) -> Callable[[], dict[str, str]]:
    """Start reading ``url`` in a thread, whose GET waits on the network while the caller goes
    on importing; the function returned waits for it, puts the values in ``environ`` and
    returns them, or raises what went wrong."""
    environ = os.environ if environ is None else environ
    outcome: dict = {}

    def read() -> None:
        try:
            outcome["values"] = fetch(url, environ=environ)
        except Exception as error:  # raised again in the caller's thread, by wait()
            outcome["error"] = error

    thread = threading.Thread(target=read, name="remote_env", daemon=True)
    thread.start()

    def wait() -> dict[str, str]:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        environ.update(outcome["values"])
        return outcome["values"]

    return wait


def fetch(url: str, *, environ, now: datetime | None = None) -> dict[str, str]:
    """GET the object at ``url`` with the credentials, region and endpoint in ``environ``."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        # A stand-in such as moto_server: path-style addressing.
        parts = urlsplit(endpoint)
        scheme, host, path = parts.scheme, parts.netloc, f"/{bucket}/{key}"
    else:
        scheme, host, path = "https", f"{bucket}.s3.{region}.amazonaws.com", f"/{key}"
    headers = signed_headers(
        host=host,
        path=path,
        region=region,
        access_key=environ["AWS_ACCESS_KEY_ID"],
        secret_key=environ["AWS_SECRET_ACCESS_KEY"],
        session_token=environ.get("AWS_SESSION_TOKEN"),
        now=now or datetime.now(UTC),
    )
    connection_class = (
        http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(host, timeout=10)
    try:
        connection.request("GET", quote(path), headers=headers)
        response = connection.getresponse()
        body = response.read()
    except OSError as error:
        raise RemoteEnvError(f"could not reach S3 for {url}: {error}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise RemoteEnvError(f"S3 answered {response.status} for {url}: {body[:300]!r}")
    try:
        values = json.loads(body)
    except ValueError:
        raise RemoteEnvError(f"{url} is not JSON") from None
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise RemoteEnvError(f"{url} is not a JSON object of strings")
    return values


def signed_headers(
    *,
    host: str,
    path: str,
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    now: datetime,
) -> dict[str, str]:
    """The headers of an S3 GET of ``path`` on ``host``, signed with Signature Version 4."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers = {"host": host, "x-amz-content-sha256": EMPTY_PAYLOAD, "x-amz-date": stamp}
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    canonical_request = "\n".join(
        [
            "GET",
            quote(path),
            "",
            *(f"{name}:{headers[name].strip()}" for name in names),
            "",
            ";".join(names),
            EMPTY_PAYLOAD,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            stamp,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return headers
