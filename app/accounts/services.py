"""Every write of the accounts app: register, login, rotate, end sessions, profiles, purging.

Keyword-only arguments, one transaction per operation, domain errors out. Time comes in as
``now=`` wherever expiry is decided; lifetimes are read from constance at call time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from app.accounts import statements, throttling, tokens
from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.errors import (
    EmailTaken,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    PasswordRejected,
    RefreshTokenExpired,
    RefreshTokenReused,
    SessionNotFound,
    WrongPassword,
)
from app.accounts.lifetimes import Lifetimes, lifetimes, lifetimes_of, with_lifetimes
from app.accounts.models import RefreshToken, Session, User

USER_AGENT_MAX_LENGTH = Session._meta.get_field("user_agent").max_length


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


def register(
    *, email: str, password: str, address: str | None = None, now: datetime | None = None
) -> User:
    """Create an active user (throttled per address); ``EmailTaken`` if the e-mail is in use."""
    throttling.count_registration(address=address, now=now or timezone.now())
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password)
    except IntegrityError:
        # The unique index on the canonical e-mail decides, even between simultaneous requests.
        raise EmailTaken() from None


def login(
    *,
    email: str,
    password: str,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> TokenPair:
    """Check the credentials (throttled per e-mail and per address) and start a new session."""
    now = now or timezone.now()
    user, attempt = _check_credentials(email=email, password=password, address=address, now=now)
    if user is None:
        raise InvalidCredentials()
    limits = lifetimes_of(user)
    session = Session(
        user_id=user.pk,
        created_at=now,
        last_used_at=now,
        expires_at=now + limits.session,
        user_agent=_printable(user_agent),
        ip_address=_ip_or_none(address),
    )
    refresh_token, token = _new_refresh_token(session=session, limits=limits, now=now)
    if not _start_session(session=session, token=token, user=user, attempt=attempt, now=now):
        # The password changed or the user was deactivated since the check above.
        raise InvalidCredentials()
    return _pair(session=session, refresh_token=refresh_token, limits=limits, now=now)


def _start_session(
    *,
    session: Session,
    token: RefreshToken,
    user: User,
    attempt: throttling.Attempt,
    now: datetime,
) -> bool:
    if connection.vendor == "postgresql":
        return statements.start_session(
            session=session,
            token=token,
            password=user.password,
            last_login=now,
            give_back=attempt.keys,
        )
    with transaction.atomic():
        checked = User.objects.filter(pk=user.pk, password=user.password, is_active=True)
        if not checked.update(last_login=now):
            return False
        attempt.give_back()
        session.save(force_insert=True)
        token.save(force_insert=True)
    return True


def authenticate_throttled(
    *,
    email: str,
    password: str,
    address: str | None,
    now: datetime,
) -> User | None:
    """Count the attempt, then check the password: the user, or ``None`` for a wrong one.

    ``LoginThrottled`` before any hashing when the e-mail or address has used up its guesses;
    a success gives its attempt back. Used by the admin's login form and password changes.
    """
    user, attempt = _check_credentials(email=email, password=password, address=address, now=now)
    if user is not None:
        attempt.give_back()
    return user


def _check_credentials(
    *, email: str, password: str, address: str | None, now: datetime
) -> tuple[User | None, throttling.Attempt]:
    try:
        email = canonical_email(email)
    except InvalidEmail:
        email = email.casefold()
    attempt = throttling.count_login(email=email, address=address, now=now)
    # As Django's ModelBackend, but the row also carries the live lifetimes (no query of their
    # own), and an unknown e-mail costs one hash too, so that both fail alike in time.
    user = with_lifetimes(User.objects.filter(email=email)).first()
    if user is None:
        User().set_password(password)
        return None, attempt
    if not (user.check_password(password) and user.is_active):
        return None, attempt
    return user, attempt


def rotate(
    *,
    refresh_token: str,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> TokenPair:
    """Use up ``refresh_token`` and return a new pair in the same session.

    The token and its session are locked together, so a revocation either waits for this
    rotation or is seen by it. A token shown after it was used means a copy is in other hands:
    the session ends and ``RefreshTokenReused`` is raised (RFC 9700 section 4.14.2).
    """
    now = now or timezone.now()
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        token = with_lifetimes(
            RefreshToken.objects.select_for_update(of=("self", "session"))
            .select_related("session__user")
            .filter(digest=digest)
        ).first()
        if token is None or token.session.revoked_at is not None:
            raise InvalidRefreshToken()
        session = token.session
        unused = token.used_at is None
        if unused and token.expires_at <= now:
            raise RefreshTokenExpired()
        if unused and session.user.is_active:
            limits = lifetimes_of(token)
            session.last_used_at = now
            session.ip_address = _ip_or_none(address) or session.ip_address
            session.user_agent = _printable(user_agent) or session.user_agent
            refresh_token, successor = _new_refresh_token(session=session, limits=limits, now=now)
            if _use_up(token=token, session=session, successor=successor):
                return _pair(session=session, refresh_token=refresh_token, limits=limits, now=now)
            unused = False  # another rotation used it first (SQLite, which has no row locks)
        _end_sessions(Session.objects.filter(pk=session.pk), now=now)
    if unused:
        raise InvalidRefreshToken()  # the user is inactive
    raise RefreshTokenReused()


def log_out(*, refresh_token: str, now: datetime | None = None) -> None:
    """End the session of ``refresh_token``, used or not; unknown tokens are ignored.

    RFC 7009 section 2.2: an invalid token is not an error for the client.
    """
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        _end_sessions(Session.objects.filter(tokens__digest=digest), now=now or timezone.now())


def end_sessions(*, session_ids: Iterable[UUID], now: datetime | None = None) -> int:
    """End the given sessions (the admin's action); return how many were still live."""
    with transaction.atomic():
        return _end_sessions(
            Session.objects.filter(pk__in=list(session_ids)), now=now or timezone.now()
        )


def end_user_sessions(*, user_id: int, now: datetime | None = None) -> int:
    """End every session of a user; return how many were still live."""
    with transaction.atomic():
        return _end_sessions(Session.objects.filter(user_id=user_id), now=now or timezone.now())


@receiver(post_save, sender=User, dispatch_uid="accounts.end_sessions_of_inactive_users")
def _end_sessions_on_deactivation_or_new_password(
    sender, instance: User, created: bool, **kwargs
) -> None:
    # Deactivation ends every session, so reactivating an account revives none of them; a new
    # password (the admin's form, the API) ends every session but the one that changed it,
    # and a user who can no longer log in by password (the admin's "disabled") keeps none.
    # set_password() keeps the raw password in _password until save() has sent post_save
    # (a hash upgrade inside check_password() clears it first: no change).
    if (
        not instance.is_active
        or not instance.has_usable_password()
        or (instance._password is not None and not created)
    ):
        sessions = Session.objects.filter(user_id=instance.pk)
        keep = getattr(instance, "_keep_session", None)
        if keep is not None and instance.is_active:
            sessions = sessions.exclude(pk=keep)
        with transaction.atomic():
            _end_sessions(sessions, now=timezone.now())


def live_sessions(*, user_id: int, now: datetime | None = None) -> list[Session]:
    """The user's sessions that can still be refreshed, newest first."""
    now = now or timezone.now()
    return list(
        Session.objects.filter(user_id=user_id, revoked_at=None, expires_at__gt=now).order_by(
            "-created_at"
        )
    )


def end_own_session(*, user_id: int, session_id: UUID, now: datetime | None = None) -> None:
    """End one of the user's sessions; ``SessionNotFound`` for anyone else's or an unknown one."""
    with transaction.atomic():
        sessions = Session.objects.filter(pk=session_id, user_id=user_id)
        if not sessions.exists():
            raise SessionNotFound()
        _end_sessions(sessions, now=now or timezone.now())


def change_password(
    *,
    user_id: int,
    session_id: str | None,
    current_password: str,
    new_password: str,
    address: str | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Check the current password (a wrong one counts toward the login throttle), set the new
    one, end every other session, and return a fresh pair for the caller's session."""
    now = now or timezone.now()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise InvalidAccessToken("The user of this token is inactive or no longer exists.")
    if (
        authenticate_throttled(
            email=user.email, password=current_password, address=address, now=now
        )
        is None
    ):
        raise WrongPassword()
    try:
        password_validation.validate_password(new_password, user=user)
    except DjangoValidationError as error:
        raise PasswordRejected(" ".join(error.messages)) from None
    limits = lifetimes()
    with transaction.atomic():
        user.set_password(new_password)
        user._keep_session = session_id
        user.save(update_fields=["password"])
        session = (
            Session.objects.select_for_update()
            .filter(pk=session_id, user_id=user_id, revoked_at=None, expires_at__gt=now)
            .first()
            if session_id
            else None
        )
        if session is None:
            raise InvalidAccessToken("The session of this token has ended.")
        # The session's live refresh token was issued before the change: it goes (shown again
        # it is unknown, a 401 that ends nothing), the caller gets a fresh one.
        RefreshToken.objects.filter(session=session, used_at=None).delete()
        return _issue_pair(session=session, limits=limits, now=now)


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


def purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what can no longer be shown or counted: expired refresh tokens, sessions left
    with no token, ended throttle windows. Used tokens stay until they expire (reuse detection).
    """
    now = now or timezone.now()
    with transaction.atomic():
        tokens_deleted, _ = RefreshToken.objects.filter(expires_at__lte=now).delete()
        sessions_deleted, _ = Session.objects.filter(tokens=None).delete()
        counters_deleted = throttling.purge(now=now)
    return {
        "refresh_tokens": tokens_deleted,
        "sessions": sessions_deleted,
        "attempt_counters": counters_deleted,
    }


def _issue_pair(*, session: Session, limits: Lifetimes, now: datetime) -> TokenPair:
    refresh_token, token = _new_refresh_token(session=session, limits=limits, now=now)
    token.save(force_insert=True)
    return _pair(session=session, refresh_token=refresh_token, limits=limits, now=now)


def _new_refresh_token(
    *, session: Session, limits: Lifetimes, now: datetime
) -> tuple[str, RefreshToken]:
    """A new refresh token of ``session`` and its row, not yet saved."""
    refresh_token = tokens.new_refresh_token()
    row = RefreshToken(
        digest=tokens.refresh_token_digest(refresh_token),
        session=session,
        created_at=now,
        # The session's end is absolute: no refresh token outlives it.
        expires_at=min(now + limits.refresh, session.expires_at),
    )
    return refresh_token, row


def _pair(*, session: Session, refresh_token: str, limits: Lifetimes, now: datetime) -> TokenPair:
    access_token = tokens.issue_access_token(
        user_id=session.user_id, lifetime=limits.access, now=now, session_id=str(session.pk)
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token)


def _use_up(*, token: RefreshToken, session: Session, successor: RefreshToken) -> bool:
    # Compare-and-set: of concurrent rotations exactly one uses the token up, even where the
    # row lock is missing (SQLite has none).
    if connection.vendor == "postgresql":
        return statements.use_up(token=token, session=session, successor=successor)
    if not RefreshToken.objects.filter(pk=token.pk, used_at=None).update(
        used_at=successor.created_at
    ):
        return False
    session.save(update_fields=["last_used_at", "ip_address", "user_agent"])
    successor.save(force_insert=True)
    return True


def _end_sessions(sessions, *, now: datetime) -> int:
    # An UPDATE takes each row's lock: it waits for a rotation in progress, and a rotation
    # that starts after it sees revoked_at.
    return sessions.filter(revoked_at=None).update(revoked_at=now)


def _printable(user_agent: str) -> str:
    # Headers may carry control characters (PostgreSQL refuses NUL in text); keep it bounded.
    return "".join(char for char in user_agent if char.isprintable())[:USER_AGENT_MAX_LENGTH]


def _ip_or_none(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None
