"""``Authorization: Bearer <access token>`` to a principal, from the token's claims alone."""

from collections.abc import Iterable

from django.contrib.auth.models import Group, Permission
from django.db.models.manager import EmptyManager
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from app.accounts import tokens
from app.accounts.errors import InvalidAccessToken
from app.errors import REALM


class TokenUser:
    """The user a valid access token speaks for: its id and claims, no database row.

    It has the whole interface of Django's user (as simplejwt's ``TokenUser`` has), so that
    any permission class or admin check can ask it, and it grants nothing: no staff, no
    superuser, no permission, no group. Whatever needs more reads the user's row.
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    username = ""
    _groups = EmptyManager(Group)
    _user_permissions = EmptyManager(Permission)

    def __init__(self, claims: tokens.AccessClaims) -> None:
        self.claims = claims
        self.id = self.pk = claims.user_id
        self.session_id = claims.session_id

    def __str__(self) -> str:
        return f"user {self.id}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenUser):
            return NotImplemented
        return self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def groups(self) -> EmptyManager:
        """No groups: the token carries none."""
        return self._groups

    @property
    def user_permissions(self) -> EmptyManager:
        """No permissions: the token carries none."""
        return self._user_permissions

    def get_username(self) -> str:
        """The empty username: the token does not carry the user's."""
        return self.username

    def get_user_permissions(self, obj: object = None) -> set[str]:
        """No permission of the user's own."""
        return set()

    def get_group_permissions(self, obj: object = None) -> set[str]:
        """No permission through a group."""
        return set()

    def get_all_permissions(self, obj: object = None) -> set[str]:
        """No permission at all."""
        return set()

    def has_perm(self, perm: str, obj: object = None) -> bool:
        """Never: a token grants no permission."""
        return False

    def has_perms(self, perm_list: Iterable[str], obj: object = None) -> bool:
        """Never: a token grants no permission."""
        return False

    def has_module_perms(self, app_label: str) -> bool:
        """Never: a token grants no permission."""
        return False

    def save(self, *args: object, **kwargs: object) -> None:
        """Refused: there is no row to save."""
        raise NotImplementedError("A token user has no database row.")

    def delete(self, *args: object, **kwargs: object) -> None:
        """Refused: there is no row to delete."""
        raise NotImplementedError("A token user has no database row.")

    def set_password(self, raw_password: str | None) -> None:
        """Refused: there is no row to hold a password."""
        raise NotImplementedError("A token user has no database row.")

    def check_password(self, raw_password: str) -> bool:
        """Refused: there is no password hash to check against."""
        raise NotImplementedError("A token user has no database row.")


class BearerTokenAuthentication(BaseAuthentication):
    """Checks the bearer JWT with no database or constance read (RFC 6750)."""

    keyword = b"bearer"
    realm = REALM

    def authenticate(self, request: Request) -> tuple[TokenUser, tokens.AccessClaims] | None:
        """Return ``(TokenUser, claims)``, ``None`` without a bearer header, or fail with 401."""
        try:
            header = get_authorization_header(request)
        except UnicodeEncodeError:
            # A server that breaks PEP 3333 (environ text must be ISO-8859-1) can hand DRF a
            # character it cannot encode: read the header as the UTF-8 it was sent in, so
            # another scheme stays another authenticator's and a bearer token is refused.
            header = request.META["HTTP_AUTHORIZATION"].encode("utf-8", "surrogatepass")
        parts = header.split()
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

    def authenticate_header(self, request: Request) -> str:
        """The challenge of every 401 (RFC 6750 section 3)."""
        return f'Bearer realm="{self.realm}"'
