"""OpenAPI pieces for drf-spectacular: the bearer scheme and the documented error responses."""

from django.urls import get_script_prefix
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from app.accounts.errors import InvalidAccessToken
from app.accounts.serializers import ErrorSerializer
from app.errors import DomainError, FieldError, Throttled


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "app.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def error(description: str, raised: type[DomainError], detail: str | None = None):
    """A documented error response whose example is what ``raised`` answers."""
    if issubclass(raised, Throttled):
        detail = raised.message_for(240)
    return _example(description, raised.code, detail or raised.default_message)


def field_error(raised: type[FieldError]) -> OpenApiResponse:
    """A documented 400 whose example is the field error ``raised`` answers."""
    return validation_error(raised.field, raised.code, raised.default_message)


def validation_error(field: str, code: str, message: str) -> OpenApiResponse:
    """A documented 400 with one field error (the serializers' own) as its example."""
    return _example(
        "Invalid input; see `fields`.",
        "invalid",
        "The request is invalid; see fields.",
        fields={field: [{"code": code, "message": message}]},
    )


def _example(description: str, code: str, detail: str, **extra) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(code, value={"code": code, "detail": detail, **extra})],
    )


UNAUTHORIZED = error(
    "Missing, invalid or expired access token (with `WWW-Authenticate`).",
    InvalidAccessToken,
    "Token has expired.",
)


def _link(operation_id: str, description: str, **definition) -> dict:
    return {"operationId": operation_id, "description": description, **definition}


# OpenAPI links (3.0 section 4.7.20): how each response feeds the next call of a session, so
# that clients and tools such as schemathesis can follow register -> login -> me -> refresh
# -> logout.
_BEARER = {"header.Authorization": "Bearer {$response.body#/access_token}"}
_SESSION_LINKS = {
    ("/api/register/", "post", "201"): {
        "LogIn": _link(
            "login",
            "Log in with the e-mail just registered and the password sent.",
            requestBody={"email": "$response.body#/email", "password": "$request.body#/password"},
        ),
    },
    ("/api/login/", "post", "200"): {
        "ReadProfile": _link("me_read", "Use the access token.", parameters=_BEARER),
        "Refresh": _link(
            "refresh",
            "Exchange the refresh token.",
            requestBody={"refresh_token": "$response.body#/refresh_token"},
        ),
        "LogOut": _link(
            "logout",
            "End the session.",
            requestBody={"refresh_token": "$response.body#/refresh_token"},
        ),
    },
}
_SESSION_LINKS[("/api/refresh/", "post", "200")] = _SESSION_LINKS[("/api/login/", "post", "200")]


def add_session_links(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the session's OpenAPI links."""
    for (path, method, status), links in _SESSION_LINKS.items():
        response = result["paths"][path][method]["responses"][status]
        response["links"] = links
    return result


def add_script_prefix_server(result, generator, request, public):
    """drf-spectacular postprocessing hook: serve the paths under the request's script prefix.

    Behind API Gateway the API lives under ``/STAGE``; without a ``servers`` entry Swagger UI
    would send "Try it out" requests to ``/api/...`` and get API Gateway's 403.
    """
    prefix = get_script_prefix().rstrip("/")
    if prefix:
        result["servers"] = [{"url": prefix}]
    return result
