"""drf-spectacular's hooks for the accounts API: the generator (``DEFAULT_GENERATOR_CLASS``),
the bearer scheme and refresh-token type, the OpenAPI links of a session and the server prefix.

Naming the generator in the settings imports this module, and it imports ``schema``, the
per-operation declarations, wherever a schema is made (the docs views, ``manage.py
spectacular``). Requests never load either.
"""

from django.urls import get_script_prefix
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.generators import SchemaGenerator as SpectacularSchemaGenerator
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes

from app.accounts import schema  # noqa: F401  (registers each view's description)


class SchemaGenerator(SpectacularSchemaGenerator):
    """drf-spectacular's generator (``DEFAULT_GENERATOR_CLASS``): naming it loads this module,
    and so the extensions below, wherever a schema is made (``manage.py spectacular`` too)."""


class RefreshTokenType(OpenApiSerializerFieldExtension):
    target_class = "app.accounts.serializers.RefreshTokenField"

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.UUID)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "app.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


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
        "ListSessions": _link("sessions_list", "See your sessions.", parameters=_BEARER),
        "LogOutEverywhere": _link("logout_all", "End every session.", parameters=_BEARER),
    },
    ("/api/sessions/", "get", "200"): {
        "EndSession": _link(
            "session_end",
            "End the newest session.",
            parameters={
                "path.session_id": "$response.body#/results/0/id",
                "header.Authorization": "$request.header.Authorization",
            },
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
