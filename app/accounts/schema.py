"""OpenAPI pieces for drf-spectacular: the bearer scheme and the documented error responses."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from app.accounts.serializers import ErrorSerializer


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "app.accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def error(description: str, code: str, detail: str, **extra) -> OpenApiResponse:
    """A documented error response in the API's one error shape, with an example."""
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(code, value={"code": code, "detail": detail, **extra})],
    )


def validation_error(field: str, code: str, message: str) -> OpenApiResponse:
    """A documented 400 with one field error as its example."""
    return error(
        "Invalid input; see `fields`.",
        "invalid",
        "The request is invalid; see fields.",
        fields={field: [{"code": code, "message": message}]},
    )


MALFORMED = error("Malformed JSON.", "parse_error", "JSON parse error - Expecting value.")
UNAUTHORIZED = error(
    "Missing, invalid or expired access token (with `WWW-Authenticate`).",
    "invalid_token",
    "Token has expired.",
)
