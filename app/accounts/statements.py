"""The hot paths' writes as one PostgreSQL statement each (data-modifying CTEs).

A login writes four rows and a refresh three; as one statement each they cost one round trip,
and a single statement is atomic on its own. ``services`` uses these on PostgreSQL and the ORM
elsewhere (SQLite has no data-modifying CTEs); the tests run both.
https://www.postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from app.accounts.models import AttemptCounter, RefreshToken, Session, User


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        name: quote(model._meta.db_table)
        for name, model in (
            ("user", User),
            ("session", Session),
            ("token", RefreshToken),
            ("counter", AttemptCounter),
        )
    }


def start_session(
    *,
    session: Session,
    token: RefreshToken,
    password: str,
    last_login: datetime,
    give_back: Sequence[str],
) -> bool:
    """Start ``session`` with its first refresh token, set ``last_login`` and give the login's
    counted attempt back, only if the user is still active with the ``password`` hash that was
    checked. Whether it was started."""
    tables = _tables()
    with connection.cursor() as cursor:
        # The user's row is the guard: an UPDATE waits for a password change or deactivation
        # in progress and then sees it, so no session starts on a password that just changed.
        cursor.execute(
            f"WITH last_login AS (UPDATE {tables['user']} SET last_login = %s "  # noqa: S608
            "WHERE id = %s AND password = %s AND is_active RETURNING id), "
            f"given_back AS (UPDATE {tables['counter']} SET count = count - 1 "
            "WHERE key = ANY(%s) AND EXISTS (SELECT 1 FROM last_login)), "
            f"new_session AS (INSERT INTO {tables['session']} (id, user_id, created_at, "
            "expires_at, last_used_at, revoked_at, user_agent, ip_address) "
            "SELECT %s, id, %s, %s, %s, NULL, %s, %s FROM last_login RETURNING id) "
            f"INSERT INTO {tables['token']} (digest, session_id, created_at, expires_at, used_at) "
            "SELECT %s, id, %s, %s, NULL FROM new_session",
            [
                last_login,
                session.user_id,
                password,
                list(give_back),
                session.pk,
                session.created_at,
                session.expires_at,
                session.last_used_at,
                session.user_agent,
                session.ip_address,
                token.digest,
                token.created_at,
                token.expires_at,
            ],
        )
        return cursor.rowcount == 1


def use_up(*, token: RefreshToken, session: Session, successor: RefreshToken) -> bool:
    """Mark ``token`` used at ``successor.created_at`` if it is still unused (compare-and-set),
    and only then save the session's last use and insert ``successor``. Whether it was."""
    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH claimed AS (UPDATE {tables['token']} SET used_at = %s "  # noqa: S608
            "WHERE id = %s AND used_at IS NULL RETURNING session_id), "
            f"touched AS (UPDATE {tables['session']} SET last_used_at = %s, ip_address = %s, "
            "user_agent = %s WHERE id IN (SELECT session_id FROM claimed)) "
            f"INSERT INTO {tables['token']} (digest, session_id, created_at, expires_at, used_at) "
            "SELECT %s, session_id, %s, %s, NULL FROM claimed",
            [
                successor.created_at,
                token.pk,
                session.last_used_at,
                session.ip_address,
                session.user_agent,
                successor.digest,
                successor.created_at,
                successor.expires_at,
            ],
        )
        return cursor.rowcount == 1
