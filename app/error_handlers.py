"""The one place where errors become HTTP, for the whole project: one JSON shape for the API.

Every error body is ``{"code": "<snake_case>", "detail": "<message>"}``; validation errors add
``"fields": {"<field>": [{"code": ..., "message": ...}]}``. Every 401 carries
``WWW-Authenticate`` (RFC 6750 section 3). A domain error (``app.errors``) brings its own
status and code; a lost database is a retryable 503; anything else unexpected is a JSON 500
that says nothing of its cause.
"""

import logging
import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from app import metrics
from app.errors import REALM, DomainError, FieldError, Throttled

logger = logging.getLogger(__name__)


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; try again shortly."
    default_code = "service_unavailable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the API accepts."
    default_code = "payload_too_large"


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: domain and framework errors to one JSON error shape."""
    exc = _to_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_body(exc)
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = _www_authenticate(exc)
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = "5"
    return response


def error_body(exc: exceptions.APIException) -> dict:
    """The JSON body for an ``APIException``."""
    if isinstance(exc, exceptions.ValidationError):
        return {
            "code": "invalid",
            "detail": "The request is invalid; see fields.",
            "fields": exc.get_full_details(),
        }
    detail = exc.detail
    return {"code": getattr(detail, "code", None) or exc.default_code, "detail": str(detail)}


def _to_api_exception(exc: Exception) -> Exception:
    # Django's own two, which DRF raises too (content negotiation raises Http404 for an unknown
    # ?format=): DRF's handler converts them only for itself, and error_body needs an
    # APIException. Their messages are left out, as a 500's cause is (get_object_or_404's
    # names the model).
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, FieldError):
        return exceptions.ValidationError(
            {exc.field: [exceptions.ErrorDetail(exc.message, code=exc.code)]}
        )
    if isinstance(exc, Throttled):
        metrics.count(metrics.THROTTLED)
        throttled = exceptions.Throttled(wait=exc.retry_after)
        # Our message already says when to retry; DRF's would say it a second time.
        throttled.detail = exceptions.ErrorDetail(exc.message, code=exc.code)
        return throttled
    if isinstance(exc, DomainError):
        api_exception = exceptions.APIException(exc.message, code=exc.code)
        api_exception.status_code = exc.status
        # RFC 6750 section 3 and RFC 9470 section 3: the challenge's own parameters.
        api_exception.challenge = getattr(exc, "challenge", dict)()
        return api_exception
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or unreachable: a retryable 503, never a stack trace; the cause
        # goes to the log, once (Django adds its own "Service Unavailable: PATH" line).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.error(
            "The database is unavailable: %s", reason, extra={"exception_name": type(exc).__name__}
        )
        return ServiceUnavailable()
    return exc


def _www_authenticate(exc) -> str:
    params = getattr(exc, "challenge", None) or {}
    if not params and getattr(exc.detail, "code", None) == "invalid_token":
        params = {"error": "invalid_token"}
    value = f'Bearer realm="{REALM}"'
    if params:
        # RFC 6750 section 3: error_description allows printable ASCII except " and \.
        description = re.sub(r'[^\x20-\x7e]|["\\]', "'", str(exc.detail))
        value += "".join(f', {name}="{param}"' for name, param in params.items())
        value += f', error_description="{description}"'
    return value


def not_found(request, exception=None):
    """``handler404``: a JSON 404 for the API, Django's page elsewhere."""
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Any unknown path under /api/: a JSON 404, in debug too (and no slash redirect)."""
    detail = f"No such endpoint: {request.path_info}."
    if not request.path_info.endswith("/"):
        detail += " API paths end with a slash."
    return JsonResponse({"code": "not_found", "detail": detail}, status=status.HTTP_404_NOT_FOUND)


def server_error(request):
    """``handler500``: a JSON 500 for the API, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "detail": "Internal server error."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)


def _is_api(request) -> bool:
    # path_info is the path below any script prefix (API Gateway's /STAGE).
    return request.path_info.startswith("/api/")
