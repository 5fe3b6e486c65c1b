"""``app/aws/remote_env.py``: the stage's secrets read from S3 with one signed GET, no AWS SDK."""

import json
from datetime import UTC, datetime
from unittest import TestCase, mock
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from app.aws import remote_env
from devtools.lambda_harness import (
    REGION,
    aws_environment,
    moto_server,
    put_stage_secrets,
    s3_client,
)
from devtools.zappa import stage_config

NOW = datetime(2026, 11, 24, 9, 30, 15, tzinfo=UTC)
URL = stage_config("dev")["remote_env"]  # where put_stage_secrets puts them
BUCKET, KEY = URL.removeprefix("s3://").split("/", 1)


def botocore_authorization(host, path, session_token):
    """The Authorization header botocore's own S3 signer writes for the same GET (the SDK
    encodes the key into the URL before it signs)."""
    request = AWSRequest(
        method="GET",
        url=f"https://{host}{quote(path)}",
        headers={"x-amz-content-sha256": remote_env.EMPTY_PAYLOAD},
    )
    credentials = Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        S3SigV4Auth(credentials, "s3", REGION).add_auth(request)
    return request.headers["Authorization"]


class SignatureTests(TestCase):
    def test_the_signature_is_the_one_botocore_computes(self):
        cases = {
            "with a session token (Lambda's role)": (
                "bucket.s3.eu-west-1.amazonaws.com",
                "/secrets.json",
                "token",
            ),
            "without one": ("bucket.s3.eu-west-1.amazonaws.com", "/secrets.json", None),
            "a key with a space and a slash": (
                "bucket.s3.eu-west-1.amazonaws.com",
                "/dev/my secrets.json",
                None,
            ),
            "path-style, as for moto_server": ("127.0.0.1:5055", "/bucket/secrets.json", "token"),
        }
        for label, (host, path, token) in cases.items():
            with self.subTest(label):
                ours = remote_env.signed_headers(
                    host=host,
                    path=path,
                    region=REGION,
                    access_key="AKIDEXAMPLE",
                    secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    session_token=token,
                    now=NOW,
                )
                self.assertEqual(ours["authorization"], botocore_authorization(host, path, token))

    def test_a_different_secret_key_gives_a_different_signature(self):
        def sign(secret_key):
            return remote_env.signed_headers(
                host="h",
                path="/k",
                region=REGION,
                access_key="AKID",
                secret_key=secret_key,
                session_token=None,
                now=NOW,
            )["authorization"]

        self.assertNotEqual(sign("one"), sign("two"))


class LoadTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Stopped however the class ends, set-up failures included.
        cls.endpoint = cls.enterClassContext(moto_server())
        put_stage_secrets("dev", {}, endpoint_url=cls.endpoint)
        cls.s3 = s3_client(cls.endpoint)

    def put(self, body):
        self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)

    def test_the_secrets_go_into_the_environment(self):
        self.put(json.dumps({"DJANGO_SECRET_KEY": "k" * 40, "DATABASE_URL": "postgres://x"}))
        environ = aws_environment(self.endpoint)
        values = remote_env.load(URL, environ=environ)
        self.assertEqual(values, {"DJANGO_SECRET_KEY": "k" * 40, "DATABASE_URL": "postgres://x"})
        self.assertEqual(environ["DATABASE_URL"], "postgres://x")

    def test_what_cannot_be_read_stops_the_start_with_a_clear_error(self):
        cases = {
            "no such object": (None, f"s3://{BUCKET}/missing.json", "404"),
            "not JSON": (b"DJANGO_SECRET_KEY=x", URL, "is not JSON"),
            "not an object of strings": (json.dumps({"PORT": 8000}), URL, "object of strings"),
        }
        for label, (body, url, message) in cases.items():
            with self.subTest(label):
                if body is not None:
                    self.put(body)
                with self.assertRaisesRegex(remote_env.RemoteEnvError, message):
                    remote_env.load(url, environ=aws_environment(self.endpoint))

    def test_an_unreachable_endpoint_is_a_clear_error_too(self):
        environ = aws_environment("http://127.0.0.1:9")
        with self.assertRaisesRegex(remote_env.RemoteEnvError, "could not reach S3"):
            remote_env.load(URL, environ=environ)
