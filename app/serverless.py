"""What running behind API Gateway or a Lambda Function URL needs, and nothing else does.

Kept out of the accounts app: static URLs that carry the stage prefix, the stage prefix and
client address from the Lambda event, the work done in Lambda's init phase with the SnapStart
hooks, and the function the daily schedule calls. ``app/lambda_function.py`` puts them together.
"""

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


class ApiGatewayEnviron:
    """Complete what apig-wsgi makes of an event, as Zappa's handler did, before Django sees it.

    - ``SCRIPT_NAME``: a REST API event for the ``execute-api`` host (or with no host, a test
      from the console) is served under ``/STAGE``, which the event's path leaves out; an HTTP
      API event names the stage in its path. A Function URL or a custom domain has no prefix.
    - ``REMOTE_ADDR``: the address API Gateway saw (``sourceIp``), not the first entry of
      ``X-Forwarded-For``, which the client writes. Login throttling per address depends on it.
    """

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        event = environ.get("apig_wsgi.full_event") or {}
        context = event.get("requestContext") or {}
        stage = context.get("stage") or ""
        if event.get("version") == "2.0":
            prefix = f"/{stage}"
            path = environ["PATH_INFO"]
            if stage not in ("", "$default") and (path == prefix or path.startswith(prefix + "/")):
                environ["SCRIPT_NAME"], environ["PATH_INFO"] = prefix, path[len(prefix) :] or "/"
        elif stage:
            host = environ.get("HTTP_HOST", "")
            if not host or host.endswith(".amazonaws.com"):
                environ["SCRIPT_NAME"] = f"/{stage}"
        source_ip = context.get("identity", {}).get("sourceIp") or context.get("http", {}).get(
            "sourceIp"
        )
        if source_ip:
            environ["REMOTE_ADDR"] = source_ip
        return self.application(environ, start_response)


def prepare_for_requests() -> None:
    """Import and build, before the first request, everything a request would otherwise load:
    the URLconf with every view and its compiled patterns, DRF's settings, the password
    hashers and their library, what the middleware loads per request, the database backend.
    Opens no connection."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher
    from django.urls import get_resolver
    from django.utils.module_loading import import_string
    from rest_framework.settings import api_settings

    resolver = get_resolver()
    # Imports app.urls, the views and the admin, and compiles every pattern's regular
    # expression, which Django otherwise does on the first request that tries it.
    resolver.reverse_dict  # noqa: B018
    for name in (
        "DEFAULT_RENDERER_CLASSES",
        "DEFAULT_PARSER_CLASSES",
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "EXCEPTION_HANDLER",
    ):
        getattr(api_settings, name)
    # The library of the hasher every login and new password uses (Argon2's bindings), which
    # it imports on its first hash. Others only verify old hashes, and may not be installed.
    hasher = get_hasher()
    if hasher.library:
        hasher._load_library()
    # The message storage and the session serializer, which the middleware imports by name
    # on every request's first use.
    import_string(settings.MESSAGE_STORAGE)
    import_string(settings.SESSION_SERIALIZER)
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
