"""Lambda events, and the function's entry point run in-process, for tests and local tools.

Builds ``zappa_settings.py`` from ``zappa_settings.json`` exactly as ``zappa package`` would,
and feeds ``app.aws.lambda_function.lambda_handler`` API Gateway REST (v1) proxy events, Function
URL (payload 2.0) events and scheduled events. A small cookie jar makes admin sessions
possible. Used by the handler tests, ``scripts/lambda-serve`` and the cold-start benchmark; the
event builders need nothing but the standard library. Every AWS call made with
``aws_environment()`` can only reach moto, and ``aws_only_at`` refuses any other.

Mail on Lambda goes out from an asynchronous invocation of the function itself, which moto
cannot run: ``async_invocations`` catches each one as Lambda would receive it, for a test to
hand to ``LambdaHarness.invoke``; ``verify_ses_identity`` and ``ses_sent_messages`` stand for
the stage's SES identity and what SES sent.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import time
import types
import urllib.request
import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from unittest import mock
from urllib.parse import urlencode

from devtools.http import Reply
from devtools.zappa import stage_config, zappa_settings_source

REGION = "eu-west-1"
API_HOST = f"abc123defg.execute-api.{REGION}.amazonaws.com"
URL_HOST = f"abcdefghijklmnopqrstuvwxyz012345.lambda-url.{REGION}.on.aws"
CLIENT_IP = "203.0.113.7"


def aws_client(service: str, endpoint_url: str | None = None):
    """A boto3 client of ``service`` with the dummy credentials: moto in-process, or the
    moto_server at ``endpoint_url``."""
    import boto3

    dummy = aws_environment()
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=dummy["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=dummy["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=dummy["AWS_SESSION_TOKEN"],
    )


def s3_client(endpoint_url: str | None = None):
    """A boto3 S3 client with the dummy credentials (``aws_client``)."""
    return aws_client("s3", endpoint_url)


def verify_ses_identity(identity: str, endpoint_url: str | None = None) -> None:
    """Verify ``identity`` in moto's SES, as the stage's sending identity is verified in SES
    (docs/deploy.md): an address when it holds an ``@``, else a domain."""
    ses = aws_client("ses", endpoint_url)
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)


def ses_sent_messages(region: str = REGION) -> list:
    """What moto's SES sent from this process's moto (in-process, or ``moto_server``, whose
    thread shares it): one record per ``send_raw_email``, with ``source``, ``destinations``
    and ``raw_data`` (the MIME message). The list itself: clear it to start afresh."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages


@contextlib.contextmanager
def async_invocations() -> Iterator[list[dict]]:
    """Catch the function's asynchronous invocations of itself, as ``app.tasks.defer`` sends
    them through ``zappa.asynchronous``: yields a list that gets each ``Invoke``'s parameters
    (``FunctionName``, ``InvocationType``, ``Payload``), each answered as Lambda answers an
    ``Event`` invocation (202, an empty payload) and run nowhere. moto cannot run the function:
    a test hands ``json.loads(invocation["Payload"])`` to ``LambdaHarness.invoke`` as Lambda
    would. https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
    """
    import boto3
    import zappa.asynchronous
    from botocore.awsrequest import AWSResponse
    from botocore.response import StreamingBody

    # A client of our own, made now: Zappa's module-level one was made with whatever
    # environment the process had when something first imported the module (and without a
    # region there is none at all).
    client = boto3.client("lambda", region_name=os.environ.get("AWS_REGION", REGION))
    sent: list[dict] = []

    def record(params: dict, **_) -> None:
        sent.append(dict(params))

    def accept(params: dict, **_):
        # Returning a response from before-call stands in for the HTTP exchange.
        answer = {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)}
        return AWSResponse(params.get("url", ""), 202, {}, None), answer

    client.meta.events.register("provide-client-params.lambda.Invoke", record)
    client.meta.events.register("before-call.lambda.Invoke", accept)
    with mock.patch.object(zappa.asynchronous, "LAMBDA_CLIENT", client, create=True):
        yield sent


@contextlib.contextmanager
def aws_only_at(endpoint_url: str | None) -> Iterator[list[str]]:
    """While it lasts, botocore sends nothing but to ``endpoint_url`` (a moto_server), or
    nothing at all with ``None``: any other request fails in this process, never leaves it,
    and its URL is added to the list yielded (for a test to assert it stays empty, however the
    caller handled the error)."""
    from botocore.httpsession import URLLib3Session

    send = URLLib3Session.send
    refused: list[str] = []

    def send_to_moto_only(session, request):
        if endpoint_url is None or not request.url.startswith(endpoint_url.rstrip("/") + "/"):
            refused.append(request.url)
            raise AssertionError(f"an AWS request for {request.url} was stopped: moto only")
        return send(session, request)

    with mock.patch.object(URLLib3Session, "send", send_to_moto_only):
        yield refused


def put_stage_secrets(stage: str, secrets: dict[str, str], endpoint_url: str | None = None) -> None:
    """Create the bucket of the stage's ``remote_env`` in moto's S3 (in-process, or the
    moto_server at ``endpoint_url``) and put ``secrets`` there."""
    bucket, key = stage_config(stage)["remote_env"].removeprefix("s3://").split("/", 1)
    s3 = s3_client(endpoint_url)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(secrets))


class LambdaContext:
    """What Lambda passes its handler as ``context``: a fresh ``aws_request_id`` each."""

    function_name = "auth-api-dev"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:auth-api-dev"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        """What Lambda says is left of the timeout."""
        return 29_000


@contextlib.contextmanager
def lambda_output(log_format: str = "json") -> Iterator[io.StringIO]:
    """Everything the function writes while it lasts, as the Lambda runtime collects it into
    CloudWatch Logs: stdout (the EMF lines), stderr, and the log lines under the project's own
    ``LOGGING`` in ``log_format`` (restored from the settings afterwards)."""
    import logging.config

    from django.conf import settings
    from django.test import override_settings

    from app.logs import logging_config

    config = logging_config(
        log_format=log_format, level=settings.LOG_LEVEL, service=settings.SERVICE_NAME
    )
    captured = io.StringIO()
    # Zappa's handler sets Django up again for its events, which configures LOGGING again.
    with (
        contextlib.redirect_stdout(captured),
        contextlib.redirect_stderr(captured),
        override_settings(LOGGING=config, LOG_FORMAT=log_format),
    ):
        # The handler writes to the stderr of when it is made: made inside the redirection.
        logging.config.dictConfig(config)
        try:
            yield captured
        finally:
            logging.config.dictConfig(settings.LOGGING)


@contextlib.contextmanager
def moto_server():
    """moto_server in a thread, on a free port of 127.0.0.1; yields its URL. The function reads
    its secrets over HTTP (``app/aws/remote_env.py``), which moto's in-process mock cannot catch."""
    from moto.server import ThreadedMotoServer

    # moto's web server logs each request it answers (werkzeug's logger, which both its own
    # handler and the root's print): the function's requests to S3 are not news.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto's state is process-wide: start empty, as a new moto_server process would.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        yield endpoint
    finally:
        server.stop()


class LambdaHarness:
    """One cold start of the function for ``stage``; ``request`` then sends events to it."""

    def __init__(self, stage: str = "dev") -> None:
        self.stage = stage
        self.cookies: dict[str, str] = {}
        # The entry point imports its settings by module name: the module Zappa would ship,
        # made from its source and registered under that name.
        settings = types.ModuleType("zappa_settings")
        exec(zappa_settings_source(stage), settings.__dict__)
        sys.modules["zappa_settings"] = settings
        self.cold_start()

    def cold_start(self) -> None:
        """Import the entry point afresh: its init phase, and a next invocation that is the
        process's first (again for each harness, as each cold start does it)."""
        module = sys.modules.get("app.aws.lambda_function")
        if module is None:
            self.function = importlib.import_module("app.aws.lambda_function")
        else:
            self.function = importlib.reload(module)

    def close(self) -> None:
        sys.modules.pop("zappa_settings", None)
        # Zappa's handler (scheduled events) is a process-wide singleton: forget it.
        zappa_handler = sys.modules.get("zappa.handler")
        if zappa_handler is not None:
            zappa_handler.LambdaHandler._LambdaHandler__instance = None

    def invoke(self, event: dict):
        """Call ``lambda_handler`` as Lambda does, keeping the test's database connection."""
        from django.core import signals
        from django.db import close_old_connections

        # As django.test.Client does: the handler's request signals would close the
        # connection that holds the test transaction.
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        self.context = LambdaContext()
        try:
            return self.function.lambda_handler(event, self.context)
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        form=None,
        headers: dict | None = None,
        function_url: bool = False,
    ) -> Reply:
        """Send one HTTP request as an API Gateway v1 event (or a Function URL event)."""
        headers = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urlencode(form, doseq=True)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        path, _, query = path.partition("?")
        build = function_url_event if function_url else api_gateway_event
        response = Reply.from_lambda(
            self.invoke(build(method, path, query, headers, body, self.stage))
        )
        for cookie in response.cookies:
            parsed = SimpleCookie()
            parsed.load(cookie)
            for name, morsel in parsed.items():
                self.cookies[name] = morsel.value
        return response


def api_gateway_event(method, path, query, headers, body, stage) -> dict:
    """An API Gateway REST API (v1) proxy event, as for ``https://HOST/STAGE/PATH``."""
    headers = {
        "Host": API_HOST,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
        # What a client may send is first; API Gateway appends the address it saw.
        "X-Forwarded-For": f"198.51.100.66, {CLIENT_IP}",
        "User-Agent": "lambda-harness",
        **headers,
    }
    pairs = [pair.split("=", 1) for pair in query.split("&") if pair] if query else []
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in pairs} or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "accountId": "123456789012",
            "apiId": API_HOST.split(".")[0],
            "domainName": API_HOST,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": CLIENT_IP, "userAgent": "lambda-harness", "userArn": None},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def function_url_event(method, path, query, headers, body, stage) -> dict:
    """A Lambda Function URL event (payload format 2.0)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    cookies = lowered.pop("cookie", None)
    lowered = {
        "host": URL_HOST,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": CLIENT_IP,
        **lowered,
    }
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query or "",
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_HOST.split(".")[0],
            "domainName": URL_HOST,
            "domainPrefix": URL_HOST.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": CLIENT_IP,
                "userAgent": "lambda-harness",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies.split("; ")
    return event


def scheduled_event(function: str, stage: str = "dev") -> dict:
    """The EventBridge event of the rule Zappa creates for ``function`` in ``stage``."""
    from zappa.core import Zappa

    lambda_name = f"auth-api-{stage}"
    rule = Zappa(load_credentials=False).get_scheduled_event_name(
        {"function": function, "expression": "rate(1 day)"}, function, lambda_name
    )
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-23T03:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{rule}"],
        "detail": {},
    }


def aws_environment(endpoint_url: str | None = None) -> dict[str, str]:
    """Dummy credentials that can only ever reach moto (at ``endpoint_url`` when given)."""
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment
