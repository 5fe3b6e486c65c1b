"""What running behind API Gateway or a Lambda Function URL needs, and nothing else does.

Kept out of the accounts app: static URLs that carry the stage prefix, the stage prefix and
client address from the Lambda event, the work done in Lambda's init phase with the SnapStart
hooks, and the function the daily schedule calls. ``app/lambda_function.py`` puts them together.
"""

import random
import re
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

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
      An event without ``sourceIp`` (``identity`` may be null) has an unknown address: empty.
    - Headers, path and query as PEP 3333 has them: one character per byte read (ISO-8859-1).
    """

    def __init__(self, application: WSGIApplication) -> None:
        self.application = application

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Fix ``environ`` up from the event apig-wsgi left in it, then call the application."""
        event = environ.get("apig_wsgi.full_event")
        if not event:
            # Not from apig-wsgi: a WSGI server made this environ, REMOTE_ADDR included.
            return self.application(environ, start_response)
        _as_wsgi_strings(environ)
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
        source_ip = (context.get("identity") or {}).get("sourceIp") or (
            context.get("http") or {}
        ).get("sourceIp")
        # Without sourceIp apig-wsgi leaves 127.0.0.1 or the first X-Forwarded-For entry, which
        # the client writes: either would let one client pose as another (or as this host).
        environ["REMOTE_ADDR"] = source_ip or ""
        return self.application(environ, start_response)


def _as_wsgi_strings(environ: WSGIEnvironment) -> None:
    # PEP 3333: CGI values are native strings of bytes decoded as ISO-8859-1. apig-wsgi copies
    # the event's text, which API Gateway decoded as UTF-8, so a character above U+00FF (a
    # header ``Bearer \u2603``) would make Django or DRF raise UnicodeEncodeError: give such a
    # value the UTF-8 bytes a WSGI server would have read off the wire.
    for key, value in environ.items():
        if "." in key or not isinstance(value, str) or _is_latin_1(value):
            continue
        if key == "PATH_INFO":
            # apig-wsgi already turned its %XX escapes into one Latin-1 character per byte:
            # re-encode only what is beyond Latin-1, or those bytes would be encoded twice.
            environ[key] = _BEYOND_LATIN_1.sub(lambda run: _utf8_as_latin_1(run[0]), value)
        else:
            environ[key] = _utf8_as_latin_1(value)


_BEYOND_LATIN_1 = re.compile(r"[^\x00-\xff]+")


def _is_latin_1(text: str) -> bool:
    return _BEYOND_LATIN_1.search(text) is None


def _utf8_as_latin_1(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


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
