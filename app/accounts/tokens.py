"""Access tokens (HS256 JWTs) and refresh tokens (UUID4s): claims in, strings out, and back.

Pure: no model, no request and no database. Keys and leeway come from Django settings,
lifetimes and times from the caller.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings

from app.accounts.errors import InvalidAccessToken

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
_REQUIRED_CLAIMS = ["exp", "iat", "jti", "sub", "user_id", "token_type"]


class InvalidRefreshTokenFormat(ValueError):
    """The value handed in as a refresh token is not a UUID."""


@dataclass(frozen=True)
class AccessClaims:
    """What a checked access token says: enough to act for its user without a query."""

    user_id: int
    issued_at: datetime
    expires_at: datetime
    jti: str
    session_id: str | None = None


def issue_access_token(
    *, user_id: int, lifetime: timedelta, now: datetime, session_id: str | None = None
) -> str:
    """Sign an access token for ``user_id``, valid from ``now`` for ``lifetime``; ``sid`` names
    the session it was issued in (OpenID Connect's claim name)."""
    issued_at = int(now.timestamp())
    claims = {
        "token_type": ACCESS_TOKEN_TYPE,
        "user_id": user_id,
        "sub": str(user_id),
        "iat": issued_at,
        "exp": issued_at + int(lifetime.total_seconds()),
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    key = settings.JWT_SIGNING_KEY
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": key_id(key)})


@functools.lru_cache(maxsize=16)
def key_id(key: str) -> str:
    """The ``kid`` of a signing key (RFC 7515 section 4.1.4): a digest, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _verifying_key(token: str) -> str:
    """The key that may have signed ``token``: by its ``kid`` among the current and previous
    keys; a token without one only with the current key."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as error:
        raise InvalidAccessToken(f"Token is invalid: {error}.") from None
    if kid is None:
        return settings.JWT_SIGNING_KEY
    if not isinstance(kid, str):
        raise InvalidAccessToken("Token header is malformed.")
    keys = {
        key_id(key): key for key in [settings.JWT_SIGNING_KEY, *settings.JWT_PREVIOUS_SIGNING_KEYS]
    }
    if kid not in keys:
        raise InvalidAccessToken("Token is signed with an unknown key.")
    return keys[kid]


def decode_access_token(token: str, *, now: datetime) -> AccessClaims:
    """Check an access token's signature, type and times at ``now``; return its claims.

    Raises ``InvalidAccessToken`` with a message fit for the client.
    """
    try:
        claims = jwt.decode(
            token,
            _verifying_key(token),
            # RFC 8725 section 3.1: accept exactly the algorithm we sign with, never "none".
            algorithms=[ALGORITHM],
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as error:
        raise InvalidAccessToken(f"Token is invalid: {error}.") from None

    # RFC 8725 section 3.11: a token of another type must not pass for an access token.
    user_id = claims["user_id"]
    if claims["token_type"] != ACCESS_TOKEN_TYPE:
        raise InvalidAccessToken("Token is not an access token.")
    if (
        not isinstance(user_id, int)
        or isinstance(user_id, bool)
        or claims["sub"] != str(user_id)
        or not all(isinstance(claims[name], int) for name in ("iat", "exp"))
    ):
        raise InvalidAccessToken("Token claims are malformed.")

    issued_at = datetime.fromtimestamp(claims["iat"], tz=UTC)
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    # Expiry is judged here, against the caller's clock, with the leeway of RFC 7519 4.1.4.
    leeway = settings.JWT_LEEWAY
    if expires_at + leeway <= now:
        raise InvalidAccessToken("Token has expired.")
    if issued_at - leeway > now:
        raise InvalidAccessToken("Token is issued in the future.")
    # No token we sign lives longer than the largest lifetime the admin may set; a longer
    # one was not made by us with today's settings (a leaked key, or a forged claim).
    if expires_at - issued_at > settings.ACCESS_TOKEN_MAX_LIFETIME:
        raise InvalidAccessToken("Token lifetime is longer than allowed.")
    session_id = claims.get("sid")
    if session_id is not None and not isinstance(session_id, str):
        raise InvalidAccessToken("Token claims are malformed.")
    return AccessClaims(
        user_id=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
        jti=claims["jti"],
        session_id=session_id,
    )


def new_refresh_token() -> str:
    """Return a fresh refresh token: a random UUID4 (122 random bits), as text."""
    return str(uuid.uuid4())


def canonical_refresh_token(value: str) -> str:
    """Return ``value`` as a lower-case hyphenated UUID, or raise ``InvalidRefreshTokenFormat``."""
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidRefreshTokenFormat("Must be a valid UUID.") from None


def refresh_token_digest(token: str) -> str:
    """Return the SHA-256 hex digest under which a refresh token is stored and looked up."""
    return hashlib.sha256(canonical_refresh_token(token).encode()).hexdigest()
