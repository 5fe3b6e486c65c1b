"""Every write of the accounts app: register, login, rotate, end sessions, profiles, purging;
reads live in ``selectors``.

Keyword-only arguments, one transaction per operation, domain errors out. Time comes in as
``now=`` wherever expiry is decided; lifetimes are read from constance at call time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from app.accounts import selectors, sql, throttling, tokens
from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    PasswordRejected,
    PasswordUnchanged,
    ReauthenticationRequired,
    RefreshTokenExpired,
    RefreshTokenReused,
    SessionEnded,
    SessionNotFound,
    UserGone,
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
    """Check the credentials (throttled, see ``throttling``) and start a new session; past the
    user's session limit the least recently used live sessions end."""
    now = now or timezone.now()
    user, attempt = _check_credentials(email=email, password=password, address=address, now=now)
    if user is None:
        raise InvalidCredentials()
    limits = lifetimes_of(user)
    session = Session(
        user_id=user.pk,
        created_at=now,
        last_used_at=now,
        authenticated_at=now,
        expires_at=now + limits.session,
        user_agent=_printable(user_agent),
        ip_address=_ip_or_none(address),
        password_stamp=tokens.password_stamp(user.password),
    )
    refresh_token, token = _new_refresh_token(session=session, limits=limits, now=now)
    started = sql.start_session(
        session=session,
        token=token,
        password=user.password,
        give_back=attempt.failure_keys,
        keep_sessions=settings.SESSIONS_PER_USER,
    )
    if not started:
        # The password changed or the user was deactivated since the check above.
        raise InvalidCredentials()
    return _pair(session=session, refresh_token=refresh_token, limits=limits, now=now)


def authenticate_throttled(
    *,
    email: str,
    password: str,
    address: str | None,
    now: datetime,
) -> User | None:
    """Count the attempt, then check the password: the user, or ``None`` for a wrong one.

    ``LoginThrottled`` or ``TooManyLogins`` before any hashing when a limit is used up. Used by
    the admin's login form and by the password and e-mail changes, which share the counters.
    """
    user, attempt = _check_credentials(email=email, password=password, address=address, now=now)
    if user is not None:
        attempt.succeeded()
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
        attempt.failed()
        return None, attempt
    if not (user.check_password(password) and user.is_active):
        attempt.failed()
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

    The session's row is locked first, so a revocation either waits for this rotation or is
    seen by it. A token shown again within the reuse interval of its first use, while its
    successor is unused, gets that same successor (a retry or a second tab, not a thief);
    otherwise a used token means a copy is in other hands: the session ends and
    ``RefreshTokenReused`` is raised (RFC 9700 section 4.14.2). A session whose password
    changed since it started, or whose user is inactive, ends and is refused.
    """
    now = now or timezone.now()
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        token = _locked_token(digest)
        if token is None or token.session.revoked_at is not None:
            raise InvalidRefreshToken()
        session = token.session
        limits = lifetimes_of(token)
        stamps = tokens.password_stamps(session.user.password)
        usable = session.user.is_active and session.password_stamp in stamps
        if not usable:
            # The user's row was read as it stood when this query began; a password change
            # that held the session's lock meanwhile (and re-stamped it) is only seen now.
            user = User.objects.filter(pk=session.user_id).only("password", "is_active").first()
            stamps = tokens.password_stamps(user.password) if user else []
            usable = bool(user and user.is_active) and session.password_stamp in stamps
        if usable and token.used_at is None:
            if token.expires_at <= now:
                raise RefreshTokenExpired()
            session.last_used_at = now
            session.ip_address = _ip_or_none(address) or session.ip_address
            session.user_agent = _printable(user_agent) or session.user_agent
            session.password_stamp = stamps[0]
            successor_token, successor = _new_refresh_token(session=session, limits=limits, now=now)
            seal = (
                tokens.seal_successor(presented=refresh_token, successor=successor_token)
                if limits.reuse_interval
                else ""
            )
            if sql.use_up(token=token, seal=seal, session=session, successor=successor):
                return _pair(session=session, refresh_token=successor_token, limits=limits, now=now)
            # Another rotation used it after it was read (it waited for the session's lock,
            # or SQLite has none): judge it again as it now stands.
            token = (
                RefreshToken.objects.filter(pk=token.pk)
                .only("used_at", "successor_seal", "session_id")
                .first()
            )
            if token is None:
                raise InvalidRefreshToken()  # the password change replaced it
        if usable:
            retried = _successor_for_retry(
                token=token, presented=refresh_token, limits=limits, now=now
            )
            if retried is _REPLACED:
                raise InvalidRefreshToken()
            if retried is not None:
                return _pair(session=session, refresh_token=retried, limits=limits, now=now)
        Session.objects.filter(pk=session.pk).end(now)
    if not usable:
        raise InvalidRefreshToken()
    raise RefreshTokenReused()


def _locked_token(digest: str) -> RefreshToken | None:
    # Only the session's row is locked: every write to a session's tokens happens under it, so
    # a lock on the token as well would only add a second order to take locks in.
    return with_lifetimes(
        RefreshToken.objects.select_for_update(of=("session",))
        .select_related("session__user")
        .filter(digest=digest)
    ).first()


# A retry whose successor a password change replaced: refused, and not a reuse.
_REPLACED = "replaced"


def _successor_for_retry(
    *, token: RefreshToken, presented: str, limits: Lifetimes, now: datetime
) -> str | None:
    """The successor that the first use of ``token`` issued, when ``presented`` again within
    the reuse interval and that successor is still unused; ``_REPLACED`` when the successor is
    gone (the session's password change replaced it); ``None`` otherwise."""
    if not token.successor_seal or token.used_at is None:
        return None
    if now - token.used_at > limits.reuse_interval:
        return None
    successor = tokens.open_seal(presented=presented, seal=token.successor_seal)
    row = (
        RefreshToken.objects.filter(
            digest=tokens.refresh_token_digest(successor), session_id=token.session_id
        )
        .only("used_at", "expires_at")
        .first()
    )
    if row is None:
        return _REPLACED
    return successor if row.used_at is None and row.expires_at > now else None


def log_out(*, refresh_token: str, now: datetime | None = None) -> None:
    """End the session of ``refresh_token``, used or not; unknown tokens are ignored.

    RFC 7009 section 2.2: an invalid token is not an error for the client.
    """
    digest = tokens.refresh_token_digest(refresh_token)
    with transaction.atomic():
        Session.objects.filter(tokens__digest=digest).end(now or timezone.now())


def end_sessions(*, session_ids: Iterable[UUID], now: datetime | None = None) -> int:
    """End the given sessions (the admin's action); return how many were still live."""
    sessions = Session.objects.filter(pk__in=list(session_ids))
    with transaction.atomic():
        # Lock order: the users' rows (in one order), then their sessions'.
        list(User.objects.select_for_update().filter(sessions__in=sessions).order_by("pk"))
        return sessions.end(now or timezone.now())


def end_user_sessions(*, user_id: int, now: datetime | None = None) -> int:
    """End every session of a user (the admin); return how many were still live."""
    with transaction.atomic():
        # Lock order: the user's row, then the sessions'.
        list(User.objects.select_for_update().filter(pk=user_id))
        return Session.objects.filter(user_id=user_id).end(now or timezone.now())


@receiver(post_save, sender=User, dispatch_uid="accounts.end_sessions_of_inactive_users")
def _end_sessions_on_deactivation(sender, instance: User, created: bool, **kwargs) -> None:
    # Reactivating an account revives none of its sessions. (A new password needs no signal:
    # each session carries the stamp of the password it started under.)
    if not instance.is_active and not created:
        with transaction.atomic():
            Session.objects.filter(user_id=instance.pk).end(timezone.now())


def log_out_everywhere(*, user_id: int, session_id: str | None, now: datetime | None = None) -> int:
    """End every session of the caller, whose own session must be live; return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order: the user's row, then the sessions'.
        user = _locked_user(user_id)
        _locked_live_session(user=user, session_id=session_id, now=now)
        return Session.objects.filter(user_id=user_id).end(now)


def end_own_session(
    *,
    user_id: int,
    caller_session_id: str | None,
    session_id: UUID,
    now: datetime | None = None,
) -> None:
    """End one of the user's sessions; ``SessionNotFound`` for anyone else's or an unknown one.
    The caller's own session must be live."""
    now = now or timezone.now()
    with transaction.atomic():
        selectors.live_session(user_id=user_id, session_id=caller_session_id, now=now)
        sessions = Session.objects.filter(pk=session_id, user_id=user_id)
        if not sessions.exists():
            raise SessionNotFound()
        sessions.end(now)


def change_password(
    *,
    user_id: int,
    session_id: str | None,
    current_password: str,
    new_password: str,
    address: str | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Check the current password (throttled as a login), set the new one, end every other
    session, and return a fresh pair for the caller's session, stamped with the new password.

    Sessions are bound to their password (``Session.password_stamp``), so the others would fail
    at their next refresh anyway; ending them here makes the list say so at once.
    """
    now = now or timezone.now()
    owner = _active_user(user_id)
    selectors.live_session(user_id=user_id, session_id=session_id, now=now)
    user = authenticate_throttled(
        email=owner.email, password=current_password, address=address, now=now
    )
    if user is None:
        raise WrongPassword()
    if new_password == current_password:
        raise PasswordUnchanged()
    try:
        password_validation.validate_password(new_password, user=user)
    except DjangoValidationError as error:
        raise PasswordRejected(" ".join(error.messages)) from None
    limits = lifetimes()
    with transaction.atomic():
        # Lock order: the user's row, then the session's, then its tokens'. Under the user's
        # lock, the password must still be the one just checked and the session still live on
        # it: a change or a reset that landed meanwhile wins.
        user = _locked_user(user_id, password=user.password)
        session = _locked_live_session(user=user, session_id=session_id, now=now)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        Session.objects.filter(user_id=user_id).exclude(pk=session.pk).end(now)
        session.password_stamp = tokens.password_stamp(user.password)
        session.authenticated_at = now
        session.save(update_fields=["password_stamp", "authenticated_at"])
        # The session's live refresh token was issued before the change: it goes (shown again
        # it is unknown, a 401 that ends nothing), the caller gets a fresh one.
        RefreshToken.objects.filter(session=session, used_at=None).delete()
        return _issue_pair(session=session, limits=limits, now=now)


def update_profile(
    *,
    user_id: int,
    session_id: str | None = None,
    authenticated_at: datetime | None = None,
    username: str | None = None,
    email: str | None = None,
    current_password: str | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> User:
    """Change the display name and/or the e-mail; ``EmailTaken`` if another user has it.

    The e-mail is the login, so changing it needs a live session, a password checked within
    the re-authentication window (``authenticated_at``, the token's ``auth_time``) or the
    right ``current_password`` in the same request (RFC 9470 step-up); e-mail changes are
    throttled per user and per address. A display name needs none of it.
    """
    now = now or timezone.now()
    reauthenticated = False
    if email is not None:
        email = User.objects.normalize_email(email)
        owner = _active_user(user_id)
        selectors.live_session(user_id=user_id, session_id=session_id, now=now)
        if current_password is not None:
            checked = authenticate_throttled(
                email=owner.email, password=current_password, address=address, now=now
            )
            if checked is None:
                raise WrongPassword()
            reauthenticated = True
        else:
            window = selectors.reauthentication_window()
            if authenticated_at is None or now - authenticated_at > window:
                raise ReauthenticationRequired(max_age=int(window.total_seconds()))
        # Counted once the change is allowed: a refused one spends nothing of the budget.
        throttling.count_email_change(user_id=user_id, address=address, now=now)
    changes = {"username": username, "email": email}
    changes = {field: value for field, value in changes.items() if value is not None}
    try:
        with transaction.atomic():
            user = (
                User.objects.select_for_update()
                .only("id", "username", "email", "password")
                .filter(pk=user_id, is_active=True)
                .first()
            )
            if user is None:
                raise UserGone()
            if email is not None:
                # Again under the locks: a session ended since the first check changes nothing.
                _locked_live_session(user=user, session_id=session_id, now=now)
            for field, value in changes.items():
                setattr(user, field, value)
            if changes:
                user.save(update_fields=list(changes))
            if reauthenticated:
                Session.objects.filter(pk=session_id).update(authenticated_at=now)
    except IntegrityError:
        raise EmailTaken() from None
    return user


def _locked_user(user_id: int, *, password: str | None = None) -> User:
    """The active user's row, locked; with ``password``, only while it still has that hash
    (``SessionEnded`` otherwise: the sessions on the checked password are over)."""
    users = User.objects.select_for_update().filter(pk=user_id, is_active=True)
    if password is not None:
        users = users.filter(password=password)
    user = users.first()
    if user is None:
        raise SessionEnded() if password is not None else UserGone()
    return user


def _locked_live_session(*, user: User, session_id: str | None, now: datetime) -> Session:
    """The caller's session, locked, if live and started under ``user``'s current password."""
    session = (
        Session.objects.select_for_update().live(now).filter(pk=session_id, user_id=user.pk).first()
        if session_id
        else None
    )
    if session is None or not session.started_under(user.password):
        raise SessionEnded()
    return session


def _active_user(user_id: int) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).only("id", "email", "password").first()
    if user is None:
        raise UserGone()
    return user


def lift_login_locks(*, emails: Iterable[str]) -> int:
    """Forget the wrong passwords counted for each of ``emails`` (staff, for an owner locked
    out by guesses from many addresses); return how many counters were cleared."""
    with transaction.atomic():
        return sum(throttling.lift_email(email=email) for email in emails)


def purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete what can no longer be shown or counted: expired refresh tokens, sessions left
    with no token, ended throttle windows, seals past the reuse interval. Used tokens stay until
    they expire (reuse detection).
    """
    now = now or timezone.now()
    # Each in a transaction of its own: deleting tokens and then sessions in one would take
    # their locks in the order opposite to a refresh's (session, then token).
    with transaction.atomic():
        tokens_deleted, _ = RefreshToken.objects.filter(expires_at__lte=now).delete()
    with transaction.atomic():
        sessions_deleted, _ = Session.objects.filter(tokens=None).delete()
    with transaction.atomic():
        counters_deleted = throttling.purge(now=now)
        # A seal outlives its use only until no retry may open it.
        seals_erased = (
            RefreshToken.objects.exclude(successor_seal="")
            .filter(used_at__lte=now - lifetimes().reuse_interval)
            .update(successor_seal="")
        )
    return {
        "refresh_tokens": tokens_deleted,
        "sessions": sessions_deleted,
        "attempt_counters": counters_deleted,
        "successor_seals": seals_erased,
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
        user_id=session.user_id,
        lifetime=limits.access,
        now=now,
        authenticated_at=session.authenticated_at,
        session_id=str(session.pk),
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token)


def _printable(user_agent: str) -> str:
    # Headers may carry control characters (PostgreSQL refuses NUL in text); keep it bounded.
    return "".join(char for char in user_agent if char.isprintable())[:USER_AGENT_MAX_LENGTH]


def _ip_or_none(address: str | None) -> str | None:
    try:
        ip = ipaddress.ip_address(address) if address else None
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        # A zone (fe80::1%eth0) names an interface of the server, not the client; PostgreSQL's
        # inet refuses it.
        ip = ipaddress.IPv6Address(ip.packed)
    return str(ip) if ip else None
