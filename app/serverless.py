"""What running behind API Gateway or a Lambda Function URL needs, and nothing else does.

Kept out of the accounts app: static URLs that carry the stage prefix, the client address
from the Lambda event, the work done in Lambda's init phase with the SnapStart hooks, and the
function the daily schedule calls.
"""

import os
import random

from django.contrib.staticfiles.storage import StaticFilesStorage
from django.db import connections
from django.urls import get_script_prefix
from whitenoise.storage import CompressedManifestStaticFilesStorage


class ScriptPrefixMixin:
    """Put the request's script prefix (``/dev`` under API Gateway) before static URLs.

    Django fixes ``STATIC_URL`` when it is first read, before any request, so the admin and
    the docs would link ``/static/...`` and miss the API Gateway stage.
    """

    def url(self, name, *args, **kwargs):
        url = super().url(name, *args, **kwargs)
        if url.startswith("/"):
            return get_script_prefix().rstrip("/") + url
        return url


class StaticStorage(ScriptPrefixMixin, CompressedManifestStaticFilesStorage):
    """Production: hashed, compressed files from ``collectstatic``, served by WhiteNoise."""


class DevelopmentStaticStorage(ScriptPrefixMixin, StaticFilesStorage):
    """Debug: the apps' files as they are, no ``collectstatic`` needed."""


class LambdaClientAddressMiddleware:
    """Take ``REMOTE_ADDR`` from the address API Gateway or the Function URL saw.

    Zappa derives it from ``X-Forwarded-For``, which the client can write; the event's
    ``sourceIp`` it cannot. Login throttling per address depends on this.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        # Middleware loads once, when Zappa's handler builds the WSGI application: in Lambda's
        # init phase (INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT), which SnapStart snapshots.
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            prepare_for_requests()
            register_snapshot_hooks()

    def __call__(self, request):
        context = request.META.get("lambda.event", {}).get("requestContext", {})
        source_ip = context.get("identity", {}).get("sourceIp") or context.get("http", {}).get(
            "sourceIp"
        )
        if source_ip:
            request.META["REMOTE_ADDR"] = source_ip
        return self.get_response(request)


def prepare_for_requests() -> None:
    """Import and build, before the first request, everything a request would otherwise load:
    the URLconf with every view, DRF's settings, the password hashers, the database backend.
    Opens no connection."""
    from django.contrib.auth.hashers import get_hashers
    from django.urls import get_resolver
    from rest_framework.settings import api_settings

    get_resolver().url_patterns  # noqa: B018  (imports app.urls, the views, the admin)
    for name in (
        "DEFAULT_RENDERER_CLASSES",
        "DEFAULT_PARSER_CLASSES",
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "EXCEPTION_HANDLER",
    ):
        getattr(api_settings, name)
    get_hashers()
    connections["default"]


def before_snapshot() -> None:
    """SnapStart: no database connection may be in the snapshot (every copy would share it)."""
    connections.close_all()


def after_restore() -> None:
    """SnapStart: what must differ between restored copies. ``random`` would replay the same
    numbers in each; tokens and UUIDs come from ``os.urandom`` and differ already."""
    random.seed()
    connections.close_all()


def register_snapshot_hooks() -> None:
    """Register the hooks with the Lambda runtime's ``snapshot_restore_py`` where it exists."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)


def purge_expired(event, context):
    """The daily scheduled event (``zappa_settings.json``): ``manage.py purge_expired``."""
    from app.accounts import services

    return services.purge()
