"""A JSON parser that refuses bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a 413."""

import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """DRF streams the body past Django's size check, so the limit is applied here."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
