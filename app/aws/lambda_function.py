"""The Lambda function's entry point (``lambda_handler`` in ``zappa_settings.json``).

Importing this module is the function's init phase, which SnapStart snapshots: the stage's
secrets are read (``remote_env``, without the AWS SDK), Django is set up and everything a
request needs is loaded, with no database connection left open. Then HTTP events (API Gateway's
REST API, Function URLs) go straight to Django through apig-wsgi; every other event (the daily
schedule, ``zappa manage``, ``zappa invoke``) goes to Zappa's own handler, imported the first
time one comes. Zappa's handler imports boto3 at its top: a cold start here does not.

Every invocation logs with its ``function_request_id``, its ``correlation_id`` (API Gateway's
request id) and ``cold_start`` (``app.logs``), and writes its metrics in at most one EMF line
(``app.metrics``).
"""

import contextlib
import gc
import os

# The init phase makes only objects that live as long as the process: a collection during
# it frees nothing and costs about a tenth of the cold start.
gc.disable()

from app.aws import remote_env  # noqa: E402


def _stage_settings():
    # The module Zappa writes into the package from zappa_settings.json.
    import zappa_settings

    return zappa_settings


def start():
    """The init phase: secrets, Django, every import a request needs, the SnapStart hooks.
    Returns the function that answers HTTP events."""
    settings = _stage_settings()
    wait_for_secrets = dict  # no remote_env: nothing to wait for
    if getattr(settings, "REMOTE_ENV", None):
        # S3 answers while Django's modules load; nothing reads a setting before the wait.
        wait_for_secrets = remote_env.load_in_background(settings.REMOTE_ENV)

    from apig_wsgi import make_lambda_handler
    from django.core.wsgi import get_wsgi_application

    from app.aws import environ, snapstart

    wait_for_secrets()
    os.environ.update(getattr(settings, "ENVIRONMENT_VARIABLES", {}))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings.DJANGO_SETTINGS)
    application = environ.ApiGatewayEnviron(get_wsgi_application())
    snapstart.prepare_for_requests()
    snapstart.register_snapshot_hooks()
    # Zappa's binary_support: anything but text and JSON goes out base64-encoded.
    return make_lambda_handler(application, binary_support=settings.BINARY_SUPPORT)


def is_http(event) -> bool:
    """Whether ``event`` is a request from API Gateway's REST API (payload 1.0) or from a
    Function URL or HTTP API (payload 2.0)."""
    if not isinstance(event, dict):
        return False
    return "httpMethod" in event or (
        event.get("version") == "2.0" and "http" in (event.get("requestContext") or {})
    )


try:
    http_handler = start()
    from django.conf import settings as django_settings

    from app import logs, metrics
finally:
    gc.enable()
# What init made stays out of every later collection (and, forked or restored, is not
# copied by one).
gc.freeze()


# The first invocation of this process is its cold start. With SnapStart the snapshot is taken
# after this import and before any invocation, so a restored copy's first is cold too.
_cold = True


def invocation_fields(event: object, context: object) -> dict[str, object]:
    """The log fields of one invocation: Lambda's request id, API Gateway's request id (a REST
    API's or a Function URL's and HTTP API's ``requestContext.requestId``) when the event has
    one, and whether it is the process's first."""
    fields: dict[str, object] = {"cold_start": _cold}
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        fields["function_request_id"] = request_id
    request_context = event.get("requestContext") if isinstance(event, dict) else None
    if isinstance(request_context, dict) and request_context.get("requestId"):
        fields["correlation_id"] = request_context["requestId"]
    return fields


def lambda_handler(event: object, context: object) -> object:
    """Answer one invocation: an HTTP event through Django, anything else through Zappa; its
    log lines carry the invocation's fields, and its metrics go out in one EMF line."""
    global _cold
    fields = invocation_fields(event, context)
    cold, _cold = _cold, False
    batch = metrics.batch() if django_settings.METRICS == "emf" else contextlib.nullcontext()
    with logs.scope(**fields), batch:
        if cold:
            metrics.count(metrics.COLD_START)
        if is_http(event):
            return http_handler(event, context)
        from zappa.handler import lambda_handler as zappa_lambda_handler

        return zappa_lambda_handler(event, context)
