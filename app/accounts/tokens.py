"""Access tokens (RS256 or ES256 JWTs), refresh tokens (UUID4s) and the one-time tokens sent by
mail: claims in, strings out, and back; the digests that stand for them in the database (refresh
tokens, mail tokens, sealed successors, the password a session started under).

Pure: no model, no request and no database. Keys and leeway come from Django settings,
lifetimes and times from the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from django.conf import settings
from django.utils.crypto import salted_hmac

from app.accounts import keys
from app.accounts.errors import InvalidAccessToken, IssuerUnknown

ACCESS_TOKEN_TYPE = "access"
# Every claim a token of ours carries; sid only when it names a session.
_REQUIRED_CLAIMS = [
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "auth_time",
    "jti",
    "sub",
    "user_id",
    "token_type",
]
_PASSWORD_STAMP_SALT = "app.accounts.tokens.password_stamp"
_SEAL_CONTEXT = b"app.accounts.tokens.successor-seal"


class InvalidRefreshTokenFormat(ValueError):
    """The value handed in as a refresh token is not a UUID."""


@dataclass(frozen=True)
class AccessClaims:
    """What a checked access token says: enough to act for its user without a query."""

    user_id: int
    issued_at: datetime
    expires_at: datetime
    jti: str
    authenticated_at: datetime
    session_id: str | None = None


def issue_access_token(
    *,
    user_id: int,
    lifetime: timedelta,
    now: datetime,
    authenticated_at: datetime | None = None,
    session_id: str | None = None,
) -> str:
    """Sign an access token for ``user_id``, valid from ``now`` for ``lifetime``.

    ``sid`` names the session it was issued in and ``auth_time`` when that session's password
    was last checked, ``now`` unless given (OpenID Connect Core section 2's claim names;
    RFC 9470 judges step-up on ``auth_time``).
    """
    if not settings.JWT_ISSUER:
        raise IssuerUnknown()
    issued_at = int(now.timestamp())
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "token_type": ACCESS_TOKEN_TYPE,
        "user_id": user_id,
        "sub": str(user_id),
        "iat": issued_at,
        # RFC 7519 section 4.1.5; API Gateway's JWT authorizer checks it when present.
        "nbf": issued_at,
        "exp": issued_at + int(lifetime.total_seconds()),
        "auth_time": int((authenticated_at or now).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    signing = keys.private_key(settings.JWT_PRIVATE_KEY)
    return jwt.encode(
        claims,
        signing.key,
        algorithm=signing.public.algorithm,
        headers={"kid": signing.public.kid},
    )


def verifying_keys() -> list[keys.PublicKey]:
    """The public keys that may verify a live token, as the JWKS publishes them: the signing
    key, the next one announced (docs/security.md) and the previous ones."""
    found = [keys.private_key(settings.JWT_PRIVATE_KEY).public]
    if settings.JWT_NEXT_PRIVATE_KEY:
        found.append(keys.private_key(settings.JWT_NEXT_PRIVATE_KEY).public)
    found += [keys.public_key(pem) for pem in settings.JWT_PREVIOUS_PUBLIC_KEYS]
    return found


def _verifying_key(token: str) -> keys.PublicKey:
    """The key named by ``token``'s ``kid`` (RFC 7515 section 4.1.4) among ours: a token
    without one, or naming another, is refused."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as error:
        raise InvalidAccessToken(f"Token is invalid: {error}.") from None
    if not isinstance(kid, str):
        raise InvalidAccessToken("Token header has no key id.")
    for key in verifying_keys():
        if key.kid == kid:
            return key
    raise InvalidAccessToken("Token is signed with an unknown key.")


def decode_access_token(token: str, *, now: datetime) -> AccessClaims:
    """Check an access token's signature, type and times at ``now``; return its claims.

    Raises ``InvalidAccessToken`` with a message fit for the client.
    """
    key = _verifying_key(token)
    try:
        claims = jwt.decode(
            token,
            key.key,
            # RFC 8725 section 3.1: accept exactly the algorithm of the key the kid names, never
            # "none" nor HS256 (whose "secret" would be the public key, section 2.1).
            algorithms=[key.algorithm],
            # RFC 8725 sections 3.8 and 3.9: our issuer, for our audience.
            issuer=settings.JWT_ISSUER,
            audience=settings.JWT_AUDIENCE,
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
        # A primary key of the database: a 64-bit signed integer, never 0 or below.
        or not 0 < user_id < 2**63
        or claims["sub"] != str(user_id)
        or not all(_is_time(claims[name]) for name in ("iat", "nbf", "exp", "auth_time"))
        or not isinstance(claims["jti"], str)
    ):
        raise InvalidAccessToken("Token claims are malformed.")

    issued_at = datetime.fromtimestamp(claims["iat"], tz=UTC)
    expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC)
    authenticated_at = datetime.fromtimestamp(claims["auth_time"], tz=UTC)
    # Expiry is judged here, against the caller's clock, with the leeway of RFC 7519 4.1.4.
    leeway = settings.JWT_LEEWAY
    if expires_at + leeway <= now:
        raise InvalidAccessToken("Token has expired.")
    if issued_at - leeway > now:
        raise InvalidAccessToken("Token is issued in the future.")
    if datetime.fromtimestamp(claims["nbf"], tz=UTC) - leeway > now:
        raise InvalidAccessToken("Token is not valid yet.")
    # No token we sign lives longer than the largest lifetime the admin may set; a longer
    # one was not made by us with today's settings (a leaked key, or a forged claim).
    if expires_at - issued_at > settings.ACCESS_TOKEN_MAX_LIFETIME:
        raise InvalidAccessToken("Token lifetime is longer than allowed.")
    if authenticated_at - leeway > issued_at:
        raise InvalidAccessToken("Token claims are malformed.")
    session_id = claims.get("sid")
    if session_id is not None and not _is_uuid(session_id):
        raise InvalidAccessToken("Token claims are malformed.")
    return AccessClaims(
        user_id=user_id,
        issued_at=issued_at,
        expires_at=expires_at,
        jti=claims["jti"],
        authenticated_at=authenticated_at,
        session_id=session_id,
    )


# Any date a token may name: Unix time from 1970 up to the year 9999 (datetime's range).
_LATEST_TIME = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp())


def _is_time(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _LATEST_TIME


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


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


# 32 random bytes (256 bits) as URL-safe base64 without padding (RFC 4648 section 5).
MAIL_TOKEN_BYTES = 32
_MAIL_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class InvalidMailTokenFormat(ValueError):
    """The value handed in as a mail token cannot be one."""


def new_mail_token() -> str:
    """A fresh token for a link sent by mail: 256 random bits, URL-safe, 43 characters."""
    return secrets.token_urlsafe(MAIL_TOKEN_BYTES)


def mail_token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a mail token is stored and looked up; a value that
    cannot be a token raises ``InvalidMailTokenFormat``."""
    if not isinstance(token, str) or not _MAIL_TOKEN_PATTERN.fullmatch(token):
        raise InvalidMailTokenFormat("Must be a token from a link we sent.")
    return hashlib.sha256(token.encode()).hexdigest()


def seal_successor(*, presented: str, successor: str) -> str:
    """Seal ``successor`` so that only whoever shows ``presented`` again can open it.

    The key is an HMAC-SHA256 of the presented token, which the database never holds (only its
    SHA-256 digest), so the seal alone turns back into no token; each key seals one value
    once, so a one-time pad over the successor's 16 bytes is all the cipher needs.
    """
    pad = _seal_pad(presented)
    plain = uuid.UUID(canonical_refresh_token(successor)).bytes
    return bytes(a ^ b for a, b in zip(plain, pad, strict=True)).hex()


def open_seal(*, presented: str, seal: str) -> str:
    """The successor that ``seal_successor`` sealed for ``presented`` (its digest is then
    compared with the stored one, which also tells a wrong seal)."""
    pad = _seal_pad(presented)
    plain = bytes(a ^ b for a, b in zip(bytes.fromhex(seal), pad, strict=True))
    return str(uuid.UUID(bytes=plain))


def _seal_pad(presented: str) -> bytes:
    key = canonical_refresh_token(presented).encode()
    return hmac.new(key, _SEAL_CONTEXT, hashlib.sha256).digest()[:16]


def password_stamp(password_hash: str) -> str:
    """The keyed digest a session started under ``password_hash`` gets now (the secret key's)."""
    return password_stamps(password_hash)[0]


def password_stamps(password_hash: str) -> list[str]:
    """The keyed digests of a password hash that a session started under it may carry: with
    the secret key first, then each fallback key (Django's ``get_session_auth_hash`` idea)."""
    return [
        salted_hmac(_PASSWORD_STAMP_SALT, password_hash, secret=key, algorithm="sha256").hexdigest()
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ]
