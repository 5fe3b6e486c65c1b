"""A local HTTP front for the real Lambda entry point: each request becomes an API Gateway event.

``scripts/lambda-serve [--port PORT]`` serves http://127.0.0.1:PORT/dev/... (8001): the path
after the stage goes into a REST API (v1) proxy event, exactly as API Gateway would send it, and
``app.aws.lambda_function.lambda_handler`` answers it, with the settings Zappa generates from
``zappa_settings.json``, debug off, and the stage's secrets read from ``remote_env`` in S3
(moto_server in a thread on 127.0.0.1: nothing leaves this machine). The event carries an
execute-api Host, as API Gateway's do, so every URL Django makes has the stage prefix.
Differences from AWS, on purpose: plain HTTP on loopback (``X-Forwarded-Proto: http``, HTTPS
redirection off) and this server's own origin trusted for CSRF, so a browser can use the admin.

Mail goes as on Lambda: a request queues an asynchronous invocation of the function, which
this server hands to the entry point once the response is out (Lambda would run it in another
instance), and that sends the message through SES (moto's, with the stage's identity
verified). Each message SES sent is printed on stderr with its link, which leads back here
(``PUBLIC_BASE_URL``, as a deploy sets it to the stage's URL).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email
import email.policy
import json
import os
import re
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devtools import ROOT, manage, random_keys
from devtools import lambda_harness as lambda_local
from devtools.zappa import stage_config

STAGE = os.environ.get("LAMBDA_STAGE", "dev")


def start_fake_aws(stack: contextlib.ExitStack) -> None:
    """moto_server in a thread, holding the stage's secrets where ``remote_env`` points and
    the stage's SES identity verified, as docs/deploy.md has them."""
    endpoint = stack.enter_context(lambda_local.moto_server())
    os.environ.update(lambda_local.aws_environment(endpoint))
    os.environ.pop("AWS_PROFILE", None)
    identity = stage_config(STAGE)["ses_identity"]
    sender = identity if "@" in identity else f"no-reply@{identity}"
    stage_secrets = {
        **{name: os.environ.get(name) or key for name, key in random_keys().items()},
        # The issuer is the stage's URL here (PUBLIC_BASE_URL), as a deploy sets it.
        "JWT_ISSUER": os.environ["PUBLIC_BASE_URL"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "DJANGO_DEFAULT_FROM_EMAIL": f"Authentication API <{sender}>",
    }
    lambda_local.put_stage_secrets(STAGE, stage_secrets, endpoint_url=endpoint)
    lambda_local.verify_ses_identity(identity, endpoint_url=endpoint)
    # Whatever the settings say, botocore reaches this moto_server and nothing else.
    stack.enter_context(lambda_local.aws_only_at(endpoint))


class Front(BaseHTTPRequestHandler):
    server_version = "lambda-serve"
    harness: lambda_local.LambdaHarness
    # The function's asynchronous invocations of itself, caught (moto runs no function).
    invocations: list[dict]
    # One handler, one event at a time, as one Lambda instance runs them; the connections
    # wait their turn here instead of being dropped.
    instance = threading.Lock()
    # How many of moto's SES messages were printed already.
    mail_shown = 0

    def do_request(self) -> None:
        path, _, query = self.path.partition("?")
        prefix = f"/{STAGE}"
        if not (path == prefix or path.startswith(prefix + "/")):
            # API Gateway's own answer for a path outside the stage.
            return self.reply(
                403, {"Content-Type": ["application/json"]}, b'{"message":"Forbidden"}'
            )
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        headers = dict(self.headers.items())
        headers.update(
            {
                "Host": lambda_local.API_HOST,
                "X-Forwarded-Proto": "http",
                "X-Forwarded-For": self.client_address[0],
            }
        )
        event = lambda_local.api_gateway_event(
            self.command, path[len(prefix) :] or "/", query, headers, body, STAGE
        )
        event["requestContext"]["identity"]["sourceIp"] = self.client_address[0]
        with self.instance:
            result = self.harness.function.lambda_handler(event, lambda_local.LambdaContext())
            queued = list(self.invocations)
            self.invocations.clear()
        content = result.get("body") or ""
        data = base64.b64decode(content) if result.get("isBase64Encoded") else content.encode()
        self.reply(result["statusCode"], result.get("multiValueHeaders") or {}, data)
        for invocation in queued:
            self.run_invocation(invocation)

    def run_invocation(self, invocation: dict) -> None:
        """What Lambda does with a queued "Event" invocation, once the response is out: the
        payload is the event. A failure is printed (Lambda would retry it twice)."""
        payload = json.loads(invocation["Payload"])
        with self.instance:
            try:
                self.harness.function.lambda_handler(payload, lambda_local.LambdaContext())
            except Exception:
                sys.stderr.write(
                    f"lambda-serve: the asynchronous invocation of {payload.get('task_path')} "
                    f"failed:\n{traceback.format_exc()}"
                )
            sent = lambda_local.ses_sent_messages()
            new, Front.mail_shown = sent[Front.mail_shown :], len(sent)
        for message in new:
            sys.stderr.write(f"lambda-serve: {describe(message)}\n")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_request

    def reply(self, status: int, headers: dict, data: bytes) -> None:
        self.send_response(status)
        seen = set()
        for name, values in headers.items():
            # Zappa repeats Set-Cookie under a lower-cased name: send each cookie once.
            if name.lower() in seen or name.lower() in {"content-length", "connection"}:
                continue
            seen.add(name.lower())
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write(f"lambda-serve: {self.command} {self.path} -> {args[1]}\n")


def describe(message) -> str:
    """One line for a message moto's SES sent: subject, recipients and its link (a local
    server's stderr: the developer follows the link as the recipient would)."""
    parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
    text = parsed.get_body(preferencelist=("plain",)).get_content()
    links = re.findall(r"https?://\S+\?token=[\w-]+", text)
    return (
        f"SES sent {parsed['Subject']!r} to {', '.join(sorted(set(message.destinations)))}: "
        f"{links[0] if links else '(no link)'}"
    )


class Server(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog for bursts (the default is 5)."""

    daemon_threads = True
    request_queue_size = 128


def prepare_database_and_static_files() -> None:
    """Migrate this server's own database and collect the static files, as a deploy does."""
    manage("migrate", "--noinput", "-v0", env={"DJANGO_DEBUG": "true"}, quiet=False)
    manage(
        "collectstatic",
        "--noinput",
        "-v0",
        env={**random_keys(), "DJANGO_DEBUG": "false"},
        quiet=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Start fake AWS, cold-start the handler once, serve on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(
        prog="scripts/lambda-serve",
        description=(
            "Serve the API through the real Lambda entry point on http://127.0.0.1:PORT/"
            f"{STAGE}/, each request an API Gateway event (debug off, secrets from moto's S3)."
        ),
    )
    parser.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (8001)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL")
        or f"sqlite:///{ROOT / 'build' / 'lambda-serve.sqlite3'}",
        help="database (default: build/lambda-serve.sqlite3, its own, not scripts/run's)",
    )
    args = parser.parse_args(argv)
    (ROOT / "build").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    # The product's settings, as Zappa's generated settings name them, whoever started us.
    os.environ["DJANGO_SETTINGS_MODULE"] = "app.settings"
    prepare_database_and_static_files()
    server = Server(("127.0.0.1", args.port), Front)
    port = server.server_address[1]
    os.environ.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": f"auth-api-{STAGE}",
            # Links in messages lead here, as a deploy points them at the stage's URL.
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}/{STAGE}",
        }
    )
    with contextlib.ExitStack() as stack:
        start_fake_aws(stack)
        Front.harness = lambda_local.LambdaHarness(STAGE)
        Front.invocations = stack.enter_context(lambda_local.async_invocations())
        # The first line on stdout names the port (--port 0 lets the system pick a free one).
        print(f"lambda-serve: http://127.0.0.1:{port}/{STAGE}/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
