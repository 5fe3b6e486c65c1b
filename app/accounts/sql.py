"""The accounts app's raw SQL, each statement with its portable twin: the attempt counters'
upsert, and the hot paths' writes as one PostgreSQL statement each (data-modifying CTEs), or
the same rows through the ORM in a transaction on any other database.

A login writes five kinds of row and a refresh four; as one statement each they cost one round
trip, and a single statement is atomic on its own. SQLite has no data-modifying CTEs; the tests
run both paths. ``services`` calls these and never asks which database it runs on.
https://www.postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection, transaction

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
    give_back: Sequence[str],
    keep_sessions: int,
) -> bool:
    """Start ``session`` with its first refresh token, set the user's ``last_login``, give the
    login's counted attempt back and end the user's least recently used live sessions past
    ``keep_sessions`` (the new one included), only if the user is still active with the
    ``password`` hash that was checked. Returns whether the session was started."""
    if connection.vendor != "postgresql":
        return _start_session_orm(
            session=session,
            token=token,
            password=password,
            give_back=give_back,
            keep_sessions=keep_sessions,
        )
    tables = _tables()
    now = session.created_at
    with connection.cursor() as cursor:
        # The user's row is the guard: an UPDATE waits for a password change or deactivation
        # in progress and then sees it, so no session starts on a password that just changed.
        cursor.execute(
            f"WITH last_login AS (UPDATE {tables['user']} SET last_login = %s "  # noqa: S608
            "WHERE id = %s AND password = %s AND is_active RETURNING id), "
            # In key order, as every write of counters (add_to_counters): no deadlock.
            f"given_back AS (INSERT INTO {tables['counter']} (key, count, expires_at) "
            "SELECT key, 0, %s FROM unnest(%s::varchar[]) AS key "
            "WHERE EXISTS (SELECT 1 FROM last_login) ORDER BY key "
            f"ON CONFLICT (key) DO UPDATE SET count = GREATEST({tables['counter']}.count - 1, 0)), "
            f"evicted AS (UPDATE {tables['session']} SET revoked_at = %s WHERE id IN ("
            f"SELECT id FROM {tables['session']} WHERE user_id = %s AND revoked_at IS NULL "
            "AND expires_at > %s ORDER BY last_used_at DESC, created_at DESC OFFSET %s) "
            "AND EXISTS (SELECT 1 FROM last_login)), "
            f"new_session AS (INSERT INTO {tables['session']} (id, user_id, created_at, "
            "expires_at, last_used_at, revoked_at, user_agent, ip_address, authenticated_at, "
            "password_stamp) "
            "SELECT %s, id, %s, %s, %s, NULL, %s, %s, %s, %s FROM last_login RETURNING id) "
            f"INSERT INTO {tables['token']} (digest, session_id, created_at, expires_at, "
            "used_at, successor_seal) SELECT %s, id, %s, %s, NULL, '' FROM new_session",
            [
                now,
                session.user_id,
                password,
                now,
                sorted(give_back),
                now,
                session.user_id,
                now,
                keep_sessions - 1,
                session.pk,
                session.created_at,
                session.expires_at,
                session.last_used_at,
                session.user_agent,
                session.ip_address,
                session.authenticated_at,
                session.password_stamp,
                token.digest,
                token.created_at,
                token.expires_at,
            ],
        )
        return cursor.rowcount == 1


def _start_session_orm(
    *,
    session: Session,
    token: RefreshToken,
    password: str,
    give_back: Sequence[str],
    keep_sessions: int,
) -> bool:
    now = session.created_at
    with transaction.atomic():
        checked = User.objects.filter(pk=session.user_id, password=password, is_active=True)
        if not checked.update(last_login=now):
            return False
        if give_back:
            add_to_counters([(key, None) for key in give_back], amount=-1)
        Session.objects.filter(user_id=session.user_id).live(now).beyond(keep_sessions - 1).end(now)
        session.save(force_insert=True)
        token.save(force_insert=True)
    return True


def use_up(*, token: RefreshToken, seal: str, session: Session, successor: RefreshToken) -> bool:
    """Mark ``token`` used at ``successor.created_at`` if it is still unused (compare-and-set),
    keeping ``seal`` (its successor, sealed) on it; only then erase the seal its predecessor
    kept for it, save the session's last use and stamp, and insert ``successor``. Returns
    whether the token was used up. Call it holding the session's row lock."""
    if connection.vendor != "postgresql":
        return _use_up_orm(token=token, seal=seal, session=session, successor=successor)
    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH claimed AS (UPDATE {tables['token']} SET used_at = %s, "  # noqa: S608
            "successor_seal = %s WHERE id = %s AND used_at IS NULL RETURNING session_id), "
            f"erased AS (UPDATE {tables['token']} SET successor_seal = '' "
            "WHERE session_id = %s AND successor_seal <> '' AND id <> %s "
            "AND EXISTS (SELECT 1 FROM claimed)), "
            f"touched AS (UPDATE {tables['session']} SET last_used_at = %s, ip_address = %s, "
            "user_agent = %s, password_stamp = %s WHERE id IN (SELECT session_id FROM claimed)) "
            f"INSERT INTO {tables['token']} (digest, session_id, created_at, expires_at, "
            "used_at, successor_seal) SELECT %s, session_id, %s, %s, NULL, '' FROM claimed",
            [
                successor.created_at,
                seal,
                token.pk,
                session.pk,
                token.pk,
                session.last_used_at,
                session.ip_address,
                session.user_agent,
                session.password_stamp,
                successor.digest,
                successor.created_at,
                successor.expires_at,
            ],
        )
        return cursor.rowcount == 1


def _use_up_orm(
    *, token: RefreshToken, seal: str, session: Session, successor: RefreshToken
) -> bool:
    # Compare-and-set: of concurrent rotations exactly one uses the token up, even where the
    # row lock is missing (SQLite has none).
    claimed = RefreshToken.objects.filter(pk=token.pk, used_at=None).update(
        used_at=successor.created_at, successor_seal=seal
    )
    if not claimed:
        return False
    RefreshToken.objects.filter(session_id=session.pk).exclude(pk=token.pk).exclude(
        successor_seal=""
    ).update(successor_seal="")
    session.save(update_fields=["last_used_at", "ip_address", "user_agent", "password_stamp"])
    successor.save(force_insert=True)
    return True


def add_to_counters(keys: list[tuple[str, datetime | None]], *, amount: int) -> dict[str, int]:
    """Add ``amount`` to each counter (made, expiring at its date, if missing); return the new
    counts. Rows are written in key order, in this statement and in every other that writes
    counters (``start_session``), so simultaneous requests that share counters take
    their row locks in one order and never deadlock."""
    table = connection.ops.quote_name(AttemptCounter._meta.db_table)
    rows = ", ".join(["(%s, %s, %s)"] * len(keys))
    params = [
        value
        for key, expires_at in sorted(keys)
        for value in (
            key,
            max(amount, 0),
            connection.ops.adapt_datetimefield_value(expires_at or datetime.now(tz=UTC)),
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES {rows} "  # noqa: S608
            # Never below zero: a count given back twice (a window purged between) stays valid.
            f"ON CONFLICT (key) DO UPDATE SET count = CASE WHEN {table}.count + %s < 0 THEN 0 "
            f"ELSE {table}.count + %s END RETURNING key, count",
            [*params, amount, amount],
        )
        return dict(cursor.fetchall())
