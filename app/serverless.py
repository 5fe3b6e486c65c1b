"""What running behind API Gateway or a Lambda Function URL needs, and nothing else does.

Kept out of the accounts app: static URLs that carry the stage prefix, the client address
from the Lambda event, and the function the daily schedule calls.
"""

from django.contrib.staticfiles.storage import StaticFilesStorage
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

    def __call__(self, request):
        context = request.META.get("lambda.event", {}).get("requestContext", {})
        source_ip = context.get("identity", {}).get("sourceIp") or context.get("http", {}).get(
            "sourceIp"
        )
        if source_ip:
            request.META["REMOTE_ADDR"] = source_ip
        return self.get_response(request)


def purge_expired(event, context):
    """The daily scheduled event (``zappa_settings.json``): ``manage.py purge_expired``."""
    from app.accounts import services

    return services.purge()
