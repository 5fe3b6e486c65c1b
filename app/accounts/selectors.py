"""Every read the accounts API makes for a request: profiles, sessions, security events, live
settings.

Services write; these only read (HackSoft's styleguide: services push, selectors pull).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from constance import config
from django.db import connection
from django.db.models import QuerySet

from app.accounts.errors import SessionEnded, UserGone
from app.accounts.lifetimes import bounded
from app.accounts.models import SecurityEvent, Session, User


def get_profile(*, user_id: int) -> User:
    """Load the active user behind an access token, in one query."""
    try:
        return User.objects.only("id", "username", "email").get(pk=user_id, is_active=True)
    except User.DoesNotExist:
        raise UserGone() from None


def get_email_status(*, user_id: int) -> User:
    """The active user's e-mail and its verification state, in one query."""
    try:
        return User.objects.only("email", "email_verified_at", "pending_email").get(
            pk=user_id, is_active=True
        )
    except User.DoesNotExist:
        raise UserGone() from None


def live_session(*, user_id: int, session_id: str | None, now: datetime) -> Session:
    """The caller's session, in one query: not ended, not past its end, its user active and on
    the password it started under; ``SessionEnded`` otherwise (an access token outlives its
    session by up to its lifetime, and must not act for it meanwhile)."""
    session = (
        Session.objects.live(now)
        .select_related("user")
        .filter(pk=session_id, user_id=user_id, user__is_active=True)
        .first()
        if session_id
        else None
    )
    if session is None or not session.started_under(session.user.password):
        raise SessionEnded()
    return session


def sessions_of(*, user_id: int, session_id: str | None, now: datetime) -> QuerySet[Session]:
    """The user's sessions that can still be refreshed, newest first, for a caller whose own
    session is live (``live_session``)."""
    caller = live_session(user_id=user_id, session_id=session_id, now=now)
    return (
        Session.objects.live(now)
        .filter(user_id=user_id)
        .started_under(caller.user.password)
        .order_by("-created_at")
    )


def events_of(*, user_id: int, session_id: str | None, now: datetime) -> QuerySet[SecurityEvent]:
    """The security events of the user's own account, newest first, for a caller whose own
    session is live (``live_session``): never another account's, nor one of no account (a
    login to an unknown e-mail)."""
    live_session(user_id=user_id, session_id=session_id, now=now)
    return SecurityEvent.objects.of_user(user_id)


def reauthentication_window() -> timedelta:
    """How long after its password check a session may change the e-mail without the password
    (constance, read now), within its bounds."""
    return bounded(timedelta(seconds=config.REAUTHENTICATION_WINDOW), "reauthentication")


def database_answers() -> None:
    """Ask the database one cheap question (``SELECT 1``); a lost database raises, and the
    error handler answers that with a retryable 503."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
