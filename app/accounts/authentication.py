"""``Authorization: Bearer <access token>`` to a principal, from the token's claims alone."""

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from app.accounts import tokens
from app.accounts.errors import InvalidAccessToken


class TokenUser:
    """The user a valid access token speaks for: its id and claims, no database row."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, claims: tokens.AccessClaims) -> None:
        self.claims = claims
        self.id = self.pk = claims.user_id
        self.session_id = claims.session_id

    def __str__(self) -> str:
        return f"user {self.id}"


class BearerTokenAuthentication(BaseAuthentication):
    """Checks the bearer JWT with no database or constance read (RFC 6750)."""

    keyword = b"bearer"
    realm = "api"

    def authenticate(self, request):
        """Return ``(TokenUser, claims)``, ``None`` without a bearer header, or fail with 401."""
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Bearer <token>'.", code="invalid_token"
            )
        try:
            token = parts[1].decode("ascii")
            claims = tokens.decode_access_token(token, now=timezone.now())
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "Token is invalid: not ASCII.", code="invalid_token"
            ) from None
        except InvalidAccessToken as error:
            raise exceptions.AuthenticationFailed(error.message, code=error.code) from None
        return TokenUser(claims), claims

    def authenticate_header(self, request):
        return f'Bearer realm="{self.realm}"'
