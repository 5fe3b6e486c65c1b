"""Every write of the accounts app: register, login, rotate, revoke, profiles and purging.

Keyword-only arguments, one transaction per operation, domain errors out. Time comes in as
``now=`` wherever expiry is decided; lifetimes are read from constance at call time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from constance import config
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from app.accounts import throttling, tokens
from app.accounts.errors import (
    EmailTaken,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenExpired,
    RefreshTokenReused,
)
from app.accounts.models import RefreshToken, User


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


def access_token_lifetime() -> timedelta:
    """The live ``ACCESS_TOKEN_LIFETIME`` (seconds in constance)."""
    return timedelta(seconds=config.ACCESS_TOKEN_LIFETIME)


def refresh_token_lifetime() -> timedelta:
    """The live ``REFRESH_TOKEN_LIFETIME``."""
    return config.REFRESH_TOKEN_LIFETIME


def register(*, email: str, password: str) -> User:
    """Create an active user with a validated password; ``EmailTaken`` if the e-mail is in use."""
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError:
        # The case-insensitive unique constraint decides, even between simultaneous requests.
        raise EmailTaken() from None


def login(
    *,
    email: str,
    password: str,
    address: str | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Check the credentials (throttled per e-mail and per address) and start a new session."""
    now = now or timezone.now()
    throttling.check_login_allowed(email=email, address=address, now=now)
    # authenticate() hashes the password even for an unknown e-mail, so both fail alike.
    user = authenticate(request, email=email, password=password)
    if user is None:
        throttling.record_login_failure(email=email, address=address, now=now)
        raise InvalidCredentials()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=now)
        return _issue_pair(user_id=user.pk, family=uuid.uuid4(), now=now)


def rotate(*, refresh_token: str, now: datetime | None = None) -> TokenPair:
    """Use up ``refresh_token`` and return a new pair in the same session (family).

    A token shown after it was used means a copy is in other hands: the whole family is
    revoked and ``RefreshTokenReused`` raised (RFC 9700 section 4.14.2).
    """
    now = now or timezone.now()
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        token = (
            RefreshToken.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(digest=digest)
            .first()
        )
        if token is None or token.revoked_at is not None:
            raise InvalidRefreshToken()
        # Compare-and-set: of any number of concurrent rotations exactly one claims the row,
        # with or without the row lock (SQLite has none).
        claimed = token.used_at is None and bool(
            RefreshToken.objects.filter(pk=token.pk, used_at=None, revoked_at=None).update(
                used_at=now
            )
        )
        if claimed:
            if token.expires_at <= now:
                raise RefreshTokenExpired()
            if not token.user.is_active:
                raise InvalidRefreshToken()
            return _issue_pair(user_id=token.user_id, family=token.family, now=now)
        _revoke_families([token.family], now=now)
    raise RefreshTokenReused()


def revoke(*, refresh_token: str, now: datetime | None = None) -> None:
    """Log out: revoke the session (family) of ``refresh_token``; unknown tokens are ignored.

    RFC 7009 section 2.2: an invalid token is not an error for the client.
    """
    now = now or timezone.now()
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        families = RefreshToken.objects.filter(digest=digest).values_list("family", flat=True)
        _revoke_families(list(families), now=now)


def revoke_tokens(*, token_ids: Iterable[int], now: datetime | None = None) -> int:
    """Revoke the sessions of the given tokens (the admin's action); return tokens revoked."""
    now = now or timezone.now()
    with transaction.atomic():
        families = RefreshToken.objects.filter(pk__in=list(token_ids)).values_list(
            "family", flat=True
        )
        return _revoke_families(list(families), now=now)


def get_profile(*, user_id: int) -> User:
    """Load the active user behind an access token, in one query."""
    try:
        return User.objects.only("id", "username", "email").get(pk=user_id, is_active=True)
    except User.DoesNotExist:
        raise InvalidAccessToken(
            "The user of this token is inactive or no longer exists."
        ) from None


def update_profile(*, user_id: int, username: str | None = None, email: str | None = None) -> User:
    """Change the display name and/or the e-mail; ``EmailTaken`` if another user has it."""
    changes = {"username": username, "email": email and User.objects.normalize_email(email)}
    changes = {field: value for field, value in changes.items() if value is not None}
    try:
        with transaction.atomic():
            user = (
                User.objects.select_for_update()
                .only("id", "username", "email")
                .filter(pk=user_id, is_active=True)
                .first()
            )
            if user is None:
                raise InvalidAccessToken("The user of this token is inactive or no longer exists.")
            for field, value in changes.items():
                setattr(user, field, value)
            if changes:
                user.save(update_fields=list(changes))
    except IntegrityError:
        raise EmailTaken() from None
    return user


def purge_refresh_tokens(*, now: datetime | None = None) -> int:
    """Delete refresh tokens that have expired, or were used or revoked past the retention."""
    now = now or timezone.now()
    cutoff = now - settings.REFRESH_TOKEN_RETENTION
    with transaction.atomic():
        deleted, _ = RefreshToken.objects.filter(
            Q(expires_at__lte=now) | Q(revoked_at__lte=cutoff) | Q(used_at__lte=cutoff)
        ).delete()
    return deleted


def _issue_pair(*, user_id: int, family: uuid.UUID, now: datetime) -> TokenPair:
    refresh_token = tokens.new_refresh_token()
    RefreshToken.objects.create(
        digest=tokens.refresh_token_digest(refresh_token),
        user_id=user_id,
        family=family,
        created_at=now,
        expires_at=now + refresh_token_lifetime(),
    )
    access_token = tokens.issue_access_token(
        user_id=user_id, lifetime=access_token_lifetime(), now=now
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token)


def _revoke_families(families: list[uuid.UUID], *, now: datetime) -> int:
    if not families:
        return 0
    return RefreshToken.objects.filter(family__in=families, revoked_at=None).update(revoked_at=now)
