"""The errors a service raises on purpose, for the whole project: each class holds its stable
snake_case ``code``, its message for people and its HTTP ``status``, in one place.

``app/error_handlers.py`` turns them into responses; the OpenAPI examples are built from them.
"""

from __future__ import annotations

# The protection space of every bearer challenge the API sends (RFC 6750 section 3).
REALM = "api"


class DomainError(Exception):
    """An error with a stable ``code``; the message is for people."""

    status = 400
    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class FieldError(DomainError):
    """An error about one field of the request: answered as a validation error on ``field``."""

    field = "non_field_errors"


class Unauthorized(DomainError):
    """Missing or wrong credentials: 401 with ``WWW-Authenticate`` (RFC 6750 section 3)."""

    status = 401

    def challenge(self) -> dict[str, str]:
        """Parameters of the ``WWW-Authenticate`` challenge beyond the realm (RFC 6750 3.1)."""
        return {"error": "invalid_token"} if self.code == "invalid_token" else {}


class Throttled(DomainError):
    """Too many attempts in the current window; ``retry_after`` is when it ends, in seconds."""

    status = 429
    code = "throttled"
    default_message = "Too many attempts."

    def __init__(self, retry_after: int) -> None:
        super().__init__(self.message_for(retry_after))
        self.retry_after = retry_after

    @classmethod
    def message_for(cls, retry_after: int) -> str:
        """The message, saying once when to retry."""
        return f"{cls.default_message} Try again in {retry_after} seconds."
