"""The static files' storages, for every environment: their URLs carry the request's script
prefix (API Gateway's ``/STAGE``)."""

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
