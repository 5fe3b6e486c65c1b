"""Every write of the accounts app: register, login, rotate, end sessions, profiles, password
resets, e-mail verification and its revert, purging; reads live in ``selectors``.

Keyword-only arguments, one transaction per operation, domain errors out. Time comes in as
``now=`` wherever expiry is decided; lifetimes are read from constance at call time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from app import metrics, tasks
from app.accounts import events, recovery, selectors, sql, throttling, tokens
from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.errors import (
    EmailAlreadyVerified,
    EmailNotVerified,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidResetToken,
    InvalidRevertToken,
    InvalidVerificationToken,
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
from app.accounts.events import Name, Reason
from app.accounts.lifetimes import (
    Lifetimes,
    event_retention,
    lifetimes,
    lifetimes_of,
    with_lifetimes,
)
from app.accounts.models import MailToken, RefreshToken, SecurityEvent, Session, User
from app.errors import DomainError, Throttled


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


def register(
    *,
    email: str,
    password: str,
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> User:
    """Create an active user (throttled per address) and mail its address a verification link
    (its pages under ``base_url``); ``EmailTaken`` if the e-mail is in use or held for a
    revert."""
    now = now or timezone.now()
    throttling.count_registration(address=address, user_agent=user_agent, now=now)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
            _refuse_if_held(email=user.email, user_id=user.pk, now=now)
            events.record_one(
                Name.USER_CREATED,
                now=now,
                user_id=user.pk,
                email=user.email,
                address=address,
                user_agent=user_agent,
            )
    except IntegrityError:
        # The unique index on the canonical e-mail decides, even between simultaneous requests.
        raise EmailTaken() from None
    tasks.defer(recovery.send_verification, user_id=user.pk, base_url=base_url)
    return user


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
    try:
        user, attempt = _check_credentials(
            email=email, password=password, address=address, user_agent=user_agent, now=now
        )
    except Throttled:
        metrics.count(metrics.LOGIN_THROTTLED)
        raise
    if user is None:
        raise InvalidCredentials()
    if settings.REQUIRE_VERIFIED_EMAIL and user.email_verified_at is None:
        # The password was checked, as on a wrong password's path, and was right.
        attempt.succeeded(
            record=_login_failed(
                attempt=attempt,
                reason=Reason.EMAIL_NOT_VERIFIED,
                user=user,
                email=user.email,
                address=address,
                user_agent=user_agent,
                now=now,
            )
        )
        raise EmailNotVerified()
    limits = lifetimes_of(user)
    session = _new_session(
        user=user, limits=limits, address=address, user_agent=user_agent, now=now
    )
    refresh_token, token = _new_refresh_token(session=session, limits=limits, now=now)
    client = {"address": address, "user_agent": user_agent}
    written = sql.start_session(
        session=session,
        token=token,
        password=user.password,
        give_back=attempt.failure_keys,
        keep_sessions=settings.SESSIONS_PER_USER,
        started=[
            events.event(name, now=now, user_id=user.pk, session_id=session.pk, **client)
            for name in (Name.LOGIN_SUCCESS, Name.SESSION_CREATED)
        ],
        evicted=_session_ended(Reason.SESSION_CAP, now=now, **client),
    )
    if written is None:
        # The password changed or the user was deactivated since the check above.
        raise InvalidCredentials()
    events.announce(written)
    return _pair(session=session, refresh_token=refresh_token, limits=limits, now=now)


def authenticate_throttled(
    *,
    email: str,
    password: str,
    address: str | None,
    now: datetime,
    user_agent: str = "",
) -> User | None:
    """Count the attempt, then check the password: the user, or ``None`` for a wrong one
    (recorded as a failed login).

    ``LoginThrottled`` or ``TooManyLogins`` before any hashing when a limit is used up. Used by
    the admin's login form and by the password and e-mail changes, which share the counters.
    """
    user, attempt = _check_credentials(
        email=email, password=password, address=address, user_agent=user_agent, now=now
    )
    if user is not None:
        attempt.succeeded()
    return user


def _check_credentials(
    *, email: str, password: str, address: str | None, user_agent: str, now: datetime
) -> tuple[User | None, throttling.Attempt]:
    typed = email
    try:
        email = canonical_email(email)
    except InvalidEmail:
        email = email.casefold()
    attempt = throttling.count_login(email=email, address=address, user_agent=user_agent, now=now)
    # As Django's ModelBackend, but the row also carries the live lifetimes (no query of their
    # own), and an unknown e-mail costs one hash too, so that both fail alike in time.
    user = with_lifetimes(User.objects.filter(email=email)).first()
    failed = {"attempt": attempt, "address": address, "user_agent": user_agent, "now": now}
    if user is None:
        User().set_password(password)
        attempt.failed(
            record=_login_failed(
                reason=Reason.UNKNOWN_ACCOUNT,
                user=None,
                # Only on this path: no login of an account pays for it.
                email=events.typed_email(typed),
                **failed,
            )
        )
        return None, attempt
    if not (user.check_password(password) and user.is_active):
        reason = Reason.INACTIVE if not user.is_active else Reason.WRONG_PASSWORD
        attempt.failed(record=_login_failed(reason=reason, user=user, email=user.email, **failed))
        return None, attempt
    return user, attempt


def _login_failed(
    *,
    attempt: throttling.Attempt,
    reason: str,
    user: User | None,
    email: str,
    address: str | None,
    user_agent: str,
    now: datetime,
) -> tuple[SecurityEvent, ...]:
    """The events of a failed password check: ``authn_login_fail``, and when it used up the
    limit of this e-mail from this address ``authn_login_fail_max``, or the e-mail's ceiling
    from every address ``authn_login_lock``."""
    names = [(Name.LOGIN_FAIL, reason)]
    if reason != Reason.EMAIL_NOT_VERIFIED:
        reached = attempt.reached()
        if "login-pair" in reached:
            names.append((Name.LOGIN_FAIL_MAX, "login-pair"))
        if "login-email" in reached:
            names.append((Name.LOGIN_LOCK, Reason.MAX_RETRIES))
    return tuple(
        events.event(
            name,
            now=now,
            reason=why,
            user_id=user.pk if user else None,
            email=email,
            address=address,
            user_agent=user_agent,
        )
        for name, why in names
    )


def _session_ended(
    reason: str, *, now: datetime, address: str | None = None, user_agent: str = ""
) -> SecurityEvent:
    """The ``session_expired`` event of sessions ended for ``reason``: a template that
    ``sql.end_sessions`` completes with each session and its user."""
    return events.event(
        Name.SESSION_EXPIRED, now=now, reason=reason, address=address, user_agent=user_agent
    )


def _end(
    sessions: QuerySet[Session],
    reason: str,
    *,
    now: datetime,
    address: str | None = None,
    user_agent: str = "",
) -> int:
    """End ``sessions`` for ``reason``, one event each; return how many were live."""
    written = sql.end_sessions(
        sessions,
        now=now,
        ended=_session_ended(reason, now=now, address=address, user_agent=user_agent),
    )
    events.announce(written)
    return len(written)


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
            session.ip_address = events.ip_or_none(address) or session.ip_address
            session.user_agent = events.printable(user_agent) or session.user_agent
            session.password_stamp = stamps[0]
            successor_token, successor = _new_refresh_token(session=session, limits=limits, now=now)
            seal = (
                tokens.seal_successor(presented=refresh_token, successor=successor_token)
                if limits.reuse_interval
                else ""
            )
            if sql.use_up(token=token, seal=seal, session=session, successor=successor):
                transaction.on_commit(_count_refresh)
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
                transaction.on_commit(_count_refresh)
                return _pair(session=session, refresh_token=retried, limits=limits, now=now)
        client = {"address": address, "user_agent": user_agent}
        if usable:
            reason = Reason.REUSE
        elif session.user.is_active:
            reason = Reason.PASSWORD_CHANGE
        else:
            reason = Reason.DEACTIVATED
        if _end(Session.objects.filter(pk=session.pk), reason, now=now, **client) and usable:
            events.record_one(
                Name.TOKEN_REUSE,
                now=now,
                user_id=session.user_id,
                session_id=session.pk,
                **client,
            )
    if not usable:
        raise InvalidRefreshToken()
    raise RefreshTokenReused()


def _count_refresh() -> None:
    metrics.count(metrics.REFRESHES)


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


def log_out(
    *,
    refresh_token: str,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> None:
    """End the session of ``refresh_token``, used or not; unknown tokens are ignored.

    RFC 7009 section 2.2: an invalid token is not an error for the client.
    """
    digest = tokens.refresh_token_digest(refresh_token)
    now = now or timezone.now()
    with transaction.atomic():
        sessions = Session.objects.filter(tokens__digest=digest)
        _end(sessions, Reason.LOGOUT, now=now, address=address, user_agent=user_agent)


def end_sessions(
    *,
    session_ids: Iterable[UUID],
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> int:
    """End the given sessions (the admin's action); return how many were still live."""
    now = now or timezone.now()
    sessions = Session.objects.filter(pk__in=list(session_ids))
    with transaction.atomic():
        # Lock order: the users' rows (in one order), then their sessions'.
        list(User.objects.select_for_update().filter(sessions__in=sessions).order_by("pk"))
        return _end(sessions, Reason.ADMIN, now=now, address=address, user_agent=user_agent)


def end_user_sessions(
    *,
    user_id: int,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> int:
    """End every session of a user (the admin); return how many were still live."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order: the user's row, then the sessions'.
        list(User.objects.select_for_update().filter(pk=user_id))
        sessions = Session.objects.filter(user_id=user_id)
        return _end(sessions, Reason.ADMIN, now=now, address=address, user_agent=user_agent)


@receiver(post_save, sender=User, dispatch_uid="accounts.end_sessions_of_inactive_users")
def _end_sessions_on_deactivation(sender, instance: User, created: bool, **kwargs) -> None:
    # Reactivating an account revives none of its sessions. (A new password needs no signal:
    # each session carries the stamp of the password it started under.)
    if not instance.is_active and not created:
        with transaction.atomic():
            sessions = Session.objects.filter(user_id=instance.pk)
            _end(sessions, Reason.DEACTIVATED, now=timezone.now())


def log_out_everywhere(
    *,
    user_id: int,
    session_id: str | None,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> int:
    """End every session of the caller, whose own session must be live; return how many."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order: the user's row, then the sessions'.
        user = _locked_user(user_id)
        _locked_live_session(user=user, session_id=session_id, now=now)
        sessions = Session.objects.filter(user_id=user_id)
        return _end(
            sessions, Reason.LOGOUT_EVERYWHERE, now=now, address=address, user_agent=user_agent
        )


def end_own_session(
    *,
    user_id: int,
    caller_session_id: str | None,
    session_id: UUID,
    address: str | None = None,
    user_agent: str = "",
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
        _end(sessions, Reason.ENDED_BY_USER, now=now, address=address, user_agent=user_agent)


def change_password(
    *,
    user_id: int,
    session_id: str | None,
    current_password: str,
    new_password: str,
    address: str | None = None,
    user_agent: str = "",
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
    client = {"address": address, "user_agent": user_agent}
    user = authenticate_throttled(email=owner.email, password=current_password, now=now, **client)
    if user is None:
        raise WrongPassword()
    if new_password == current_password:
        raise PasswordUnchanged()
    _check_new_password(new_password, user=user)
    limits = lifetimes()
    with transaction.atomic():
        # Lock order: the user's row, then the session's, then its tokens'. Under the user's
        # lock, the password must still be the one just checked and the session still live on
        # it: a change or a reset that landed meanwhile wins.
        user = _locked_user(user_id, password=user.password)
        session = _locked_live_session(user=user, session_id=session_id, now=now)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        others = Session.objects.filter(user_id=user_id).exclude(pk=session.pk)
        _end(others, Reason.PASSWORD_CHANGE, now=now, **client)
        events.record_one(
            Name.PASSWORD_CHANGE, now=now, user_id=user_id, session_id=session.pk, **client
        )
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
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> User:
    """Change the display name and/or the e-mail; ``EmailTaken`` if another user has it.

    The e-mail is the login, so changing it needs a live session, a password checked within
    the re-authentication window (``authenticated_at``, the token's ``auth_time``) or the
    right ``current_password`` in the same request (RFC 9470 step-up); e-mail changes are
    throttled per user and per address. A display name needs none of it.

    A new e-mail applies at once and is unverified until its link is followed, while the old
    address is told, with a link that undoes the change (``EMAIL_CHANGE_POLICY=immediate``);
    or it waits as ``pending_email`` for that link (``confirm``).
    """
    now = now or timezone.now()
    reauthenticated = False
    if email is not None:
        email = User.objects.normalize_email(email)
        owner = _active_user(user_id)
        selectors.live_session(user_id=user_id, session_id=session_id, now=now)
        if current_password is not None:
            checked = authenticate_throttled(
                email=owner.email,
                password=current_password,
                address=address,
                user_agent=user_agent,
                now=now,
            )
            if checked is None:
                raise WrongPassword()
            reauthenticated = True
        else:
            window = selectors.reauthentication_window()
            if authenticated_at is None or now - authenticated_at > window:
                raise ReauthenticationRequired(max_age=int(window.total_seconds()))
        # Counted once the change is allowed: a refused one spends nothing of the budget.
        throttling.count_email_change(
            user_id=user_id, address=address, user_agent=user_agent, now=now
        )
    changes: dict[str, object] = {} if username is None else {"username": username}
    notice = None
    try:
        with transaction.atomic():
            user = (
                User.objects.select_for_update()
                .only("id", "username", "email", "password", "email_verified_at", "pending_email")
                .filter(pk=user_id, is_active=True)
                .first()
            )
            if user is None:
                raise UserGone()
            if email is not None:
                # Again under the locks: a session ended since the first check changes nothing.
                _locked_live_session(user=user, session_id=session_id, now=now)
                changes.update(_email_changes(user=user, email=email))
                if "email" in changes:
                    notice = recovery.reserve_revert(user=user, old_email=user.email, now=now)
            for field, value in changes.items():
                setattr(user, field, value)
            if changes:
                user.save(update_fields=list(changes))
            if email is not None:
                _refuse_if_held(email=email, user_id=user_id, now=now)
            if "email" in changes:
                events.record_one(
                    Name.EMAIL_CHANGED,
                    now=now,
                    reason=Reason.IMMEDIATE,
                    user_id=user_id,
                    session_id=session_id,
                    email=user.email,
                    address=address,
                    user_agent=user_agent,
                )
            if reauthenticated:
                Session.objects.filter(pk=session_id).update(authenticated_at=now)
    except IntegrityError:
        raise EmailTaken() from None
    if notice is not None:
        tasks.defer(recovery.send_email_change_notice, token_id=notice.pk, base_url=base_url)
    if changes.get("pending_email") or "email" in changes:
        tasks.defer(recovery.send_verification, user_id=user_id, base_url=base_url)
    return user


def _refuse_if_held(*, email: str, user_id: int, now: datetime) -> None:
    """``EmailTaken`` when another account's revert link holds ``email``. Asked after the
    write, in its transaction: a reservation committed meanwhile is seen (READ COMMITTED), and
    the unique index orders the rest."""
    if MailToken.objects.holding(email, now).exclude(user_id=user_id).exists():
        raise EmailTaken()


def _email_changes(*, user: User, email: str) -> dict[str, object]:
    """What asking for ``email`` changes on ``user`` under the e-mail change policy."""
    if email == user.email:
        # Back to the current address: whatever was pending is dropped.
        return {"pending_email": ""} if user.pending_email else {}
    if settings.EMAIL_CHANGE_POLICY == "confirm":
        if User.objects.filter(email=email).exists():
            raise EmailTaken()
        return {"pending_email": email}
    return {"email": email, "email_verified_at": None, "pending_email": ""}


def request_password_reset(
    *,
    email: str,
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> None:
    """Count the request (per e-mail and per address) and mail a reset link after the
    response, if ``email`` is an active account's: the caller cannot tell which. The mailing
    records ``password_reset_requested`` with the requester's address and user agent."""
    now = now or timezone.now()
    throttling.count_mail(email=email, address=address, user_agent=user_agent, now=now)
    _defer_reset(email=email, base_url=base_url, address=address, user_agent=user_agent)


def send_password_resets(
    *,
    user_ids: Iterable[int],
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
) -> int:
    """Mail a reset link to each active user of ``user_ids`` (staff, unthrottled); return how
    many were sent."""
    emails = list(
        User.objects.filter(pk__in=list(user_ids), is_active=True).values_list("email", flat=True)
    )
    for email in emails:
        _defer_reset(
            email=email,
            base_url=base_url,
            address=address,
            user_agent=user_agent,
            reason=Reason.ADMIN,
        )
    return len(emails)


def confirm_password_reset(
    *,
    token: str,
    new_password: str,
    address: str | None = None,
    user_agent: str = "",
    now: datetime | None = None,
) -> TokenPair:
    """Set a new password with a reset token, once, and start a new session: every other
    session ends (bound to the old password), the address the link went to is verified, and
    the e-mail's failed-login lock is lifted (the owner proved the address).

    ``InvalidResetToken`` for a token unknown, used, expired, superseded by a newer reset or
    issued before the password last changed; ``PasswordRejected`` leaves the token usable.
    """
    now = now or timezone.now()
    row = recovery.find(token=token, purpose=MailToken.Purpose.RESET)
    if row is None:
        raise InvalidResetToken()
    limits = lifetimes()
    with transaction.atomic():
        # Lock order: the user's row, then the token's compare-and-set, then the sessions.
        user = _locked_user(row.user_id, gone=InvalidResetToken)
        # Before the claim: a rejected password leaves the token usable.
        _check_new_password(new_password, user=user)
        if not recovery.claim(row=row, user=user, now=now):
            raise InvalidResetToken()
        user.set_password(new_password)
        fields = ["password"]
        if user.email == row.email and user.email_verified_at is None:
            user.email_verified_at = now
            fields.append("email_verified_at")
        user.save(update_fields=fields)
        if user.email == row.email:
            # The link proved the address: no link from a later change takes the account away.
            recovery.void_ways_away(user=user, email=user.email, now=now)
        client = {"address": address, "user_agent": user_agent}
        _end(Session.objects.filter(user_id=user.pk), Reason.PASSWORD_RESET, now=now, **client)
        throttling.lift_email(email=user.email)
        session = _new_session(
            user=user, limits=limits, address=address, user_agent=user_agent, now=now
        )
        session.save(force_insert=True)
        events.record(
            events.event(name, now=now, user_id=user.pk, session_id=session.pk, **client)
            for name in (Name.PASSWORD_RESET_COMPLETED, Name.SESSION_CREATED)
        )
        return _issue_pair(session=session, limits=limits, now=now)


def request_verification(
    *,
    user_id: int,
    session_id: str | None,
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> None:
    """Mail the caller's unverified (or pending) address a new verification link, throttled
    as any message; ``EmailAlreadyVerified`` when there is nothing to verify."""
    now = now or timezone.now()
    session = selectors.live_session(user_id=user_id, session_id=session_id, now=now)
    user = session.user
    if not user.pending_email and user.email_verified_at is not None:
        raise EmailAlreadyVerified()
    throttling.count_mail(
        email=user.pending_email or user.email,
        address=address,
        user_agent=user_agent,
        user_id=user_id,
        now=now,
    )
    tasks.defer(recovery.send_verification, user_id=user_id, base_url=base_url)


def verify_email(
    *,
    token: str,
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> User:
    """Follow a verification link once: the address it went to is verified, and a pending
    e-mail (``EMAIL_CHANGE_POLICY=confirm``) becomes the login, its old address told as for
    an immediate change. ``InvalidVerificationToken`` for a token unknown, used, expired,
    superseded, or for an address the user no longer has."""
    now = now or timezone.now()
    row = recovery.find(token=token, purpose=MailToken.Purpose.VERIFY)
    if row is None:
        raise InvalidVerificationToken()
    notice = None
    try:
        with transaction.atomic():
            user = _locked_user(row.user_id, gone=InvalidVerificationToken)
            if row.email not in {user.email, user.pending_email}:
                raise InvalidVerificationToken()
            if not recovery.claim(row=row, user=user, now=now):
                raise InvalidVerificationToken()
            fields = ["email_verified_at"]
            client = {"user_id": user.pk, "address": address, "user_agent": user_agent}
            recorded = [events.event(Name.EMAIL_VERIFIED, now=now, email=row.email, **client)]
            if row.email == user.pending_email:
                notice = recovery.reserve_revert(user=user, old_email=user.email, now=now)
                user.email, user.pending_email = row.email, ""
                fields += ["email", "pending_email"]
                recorded.append(
                    events.event(
                        Name.EMAIL_CHANGED,
                        now=now,
                        reason=Reason.CONFIRMED,
                        email=row.email,
                        **client,
                    )
                )
            user.email_verified_at = now
            user.save(update_fields=fields)
            _refuse_if_held(email=user.email, user_id=user.pk, now=now)
            events.record(recorded)
    except IntegrityError:
        # Another account took the pending address meanwhile: the unique index decides.
        raise EmailTaken() from None
    if notice is not None:
        tasks.defer(recovery.send_email_change_notice, token_id=notice.pk, base_url=base_url)
    return user


def revert_email_change(
    *,
    token: str,
    address: str | None = None,
    user_agent: str = "",
    base_url: str = "",
    now: datetime | None = None,
) -> None:
    """Undo an e-mail change with the link its old address got ("this wasn't me"), once: the
    old address is the login again and verified, every session ends, the password can no
    longer log in (whoever changed the e-mail may know it), and the old address is mailed a
    reset link. Links from later changes and every pending reset or verification are void.
    """
    now = now or timezone.now()
    row = recovery.find(token=token, purpose=MailToken.Purpose.REVERT)
    if row is None:
        raise InvalidRevertToken()
    try:
        with transaction.atomic():
            user = _locked_user(row.user_id, gone=InvalidRevertToken)
            if not recovery.claim(row=row, user=user, now=now):
                raise InvalidRevertToken()
            user.email, user.pending_email, user.email_verified_at = row.email, "", now
            user.set_unusable_password()
            user.save(update_fields=["email", "pending_email", "email_verified_at", "password"])
            client = {"address": address, "user_agent": user_agent}
            _end(Session.objects.filter(user_id=user.pk), Reason.EMAIL_REVERT, now=now, **client)
            events.record_one(
                Name.EMAIL_CHANGE_REVERTED,
                now=now,
                user_id=user.pk,
                email=row.email,
                **client,
            )
            MailToken.objects.filter(user_id=user.pk).exclude(
                purpose=MailToken.Purpose.REVERT
            ).void(now)
            recovery.void_ways_away(user=user, email=row.email, now=now, since=row.pk)
    except IntegrityError:
        raise EmailTaken() from None
    _defer_reset(
        email=row.email,
        base_url=base_url,
        address=address,
        user_agent=user_agent,
        reason=Reason.EMAIL_REVERT,
    )


def _defer_reset(
    *, email: str, base_url: str, address: str | None, user_agent: str, reason: str = ""
) -> None:
    """Mail ``email`` a reset link after the response, with who asked (as events keep them,
    so the invocation stays small) and, unless the owner asked, why."""
    asked = {"address": events.ip_or_none(address), "user_agent": events.printable(user_agent)}
    if reason:
        asked["reason"] = reason
    tasks.defer(recovery.send_password_reset, email=email, base_url=base_url, **asked)


def _locked_user(
    user_id: int, *, password: str | None = None, gone: type[DomainError] = UserGone
) -> User:
    """The active user's row, locked; with ``password``, only while it still has that hash
    (``SessionEnded`` otherwise: the sessions on the checked password are over). ``gone`` is
    what a missing or inactive user raises."""
    users = User.objects.select_for_update().filter(pk=user_id, is_active=True)
    if password is not None:
        users = users.filter(password=password)
    user = users.first()
    if user is None:
        raise SessionEnded() if password is not None else gone()
    return user


def _check_new_password(password: str, *, user: User) -> None:
    """Django's validators on a new password for ``user``; ``PasswordRejected`` with their
    messages."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as error:
        raise PasswordRejected(" ".join(error.messages)) from None


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
    with no token (recording ``session_expired`` for those that ended by time), expired mail
    tokens, ended throttle windows, seals past the reuse interval, security events past their
    retention (``SECURITY_EVENT_RETENTION_DAYS``). Used tokens stay until they expire (reuse
    detection).
    """
    now = now or timezone.now()
    # Each in a transaction of its own: deleting tokens and then sessions in one would take
    # their locks in the order opposite to a refresh's (session, then token).
    with transaction.atomic():
        # Sessions that nothing ended and that can no longer be refreshed are over by time:
        # their one event is recorded before they go.
        over = Session.objects.filter(revoked_at=None).exclude(tokens__expires_at__gt=now)
        expired = _end(over, Reason.EXPIRED, now=now)
    with transaction.atomic():
        tokens_deleted, _ = RefreshToken.objects.filter(expires_at__lte=now).delete()
    with transaction.atomic():
        sessions_deleted, _ = Session.objects.filter(tokens=None).delete()
    with transaction.atomic():
        mail_tokens_deleted, _ = MailToken.objects.filter(expires_at__lte=now).delete()
    with transaction.atomic():
        counters_deleted = throttling.purge(now=now)
        # A seal outlives its use only until no retry may open it.
        seals_erased = (
            RefreshToken.objects.exclude(successor_seal="")
            .filter(used_at__lte=now - lifetimes().reuse_interval)
            .update(successor_seal="")
        )
    with transaction.atomic():
        events_deleted, _ = SecurityEvent.objects.older_than(now - event_retention()).delete()
    return {
        "refresh_tokens": tokens_deleted,
        "sessions": sessions_deleted,
        "mail_tokens": mail_tokens_deleted,
        "attempt_counters": counters_deleted,
        "successor_seals": seals_erased,
        "sessions_expired": expired,
        "security_events": events_deleted,
    }


def _new_session(
    *, user: User, limits: Lifetimes, address: str | None, user_agent: str, now: datetime
) -> Session:
    """A session of ``user`` starting with a password check at ``now``, not yet saved."""
    return Session(
        user_id=user.pk,
        created_at=now,
        last_used_at=now,
        authenticated_at=now,
        expires_at=now + limits.session,
        user_agent=events.printable(user_agent),
        ip_address=events.ip_or_none(address),
        password_stamp=tokens.password_stamp(user.password),
    )


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
