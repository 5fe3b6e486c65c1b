"""The accounts app's raw SQL, each statement with its portable twin: the attempt counters'
upsert, and the hot paths' writes as one PostgreSQL statement each (data-modifying CTEs), or
the same rows through the ORM in a transaction on any other database.

A login writes five kinds of row and a refresh four; as one statement each they cost one round
trip, and a single statement is atomic on its own. SQLite has no data-modifying CTEs; the tests
run both paths. ``services`` calls these and never asks which database it runs on.
https://www.postgresql.org/docs/15/queries-with.html#QUERIES-WITH-MODIFYING
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet

from app.accounts.models import AttemptCounter, RefreshToken, SecurityEvent, Session, User

# The columns of an event row, in the order _event_values gives them.
_EVENT_COLUMNS = "name, reason, at, user_id, email, session_id, address, user_agent"


def _tables() -> dict[str, str]:
    quote = connection.ops.quote_name
    return {
        name: quote(model._meta.db_table)
        for name, model in (
            ("user", User),
            ("session", Session),
            ("token", RefreshToken),
            ("counter", AttemptCounter),
            ("event", SecurityEvent),
        )
    }


def start_session(
    *,
    session: Session,
    token: RefreshToken,
    password: str,
    give_back: Sequence[str],
    keep_sessions: int,
    started: Sequence[SecurityEvent],
    evicted: SecurityEvent,
) -> list[SecurityEvent] | None:
    """Start ``session`` with its first refresh token, set the user's ``last_login``, give the
    login's counted attempt back and end the user's least recently used live sessions past
    ``keep_sessions`` (the new one included), only if the user is still active with the
    ``password`` hash that was checked; record the ``started`` events, and ``evicted`` for each
    session ended (its session and user filled in). Returns the events written, or ``None``
    when no session was started."""
    if connection.vendor != "postgresql":
        return _start_session_orm(
            session=session,
            token=token,
            password=password,
            give_back=give_back,
            keep_sessions=keep_sessions,
            started=started,
            evicted=evicted,
        )
    tables = _tables()
    now = session.created_at
    started_sql, started_params = _event_selects(started, source="new_session")
    evicted_sql = _EVENT_SELECT.format(user="evicted.user_id", session="evicted.id")
    logged_sql = " UNION ALL ".join(filter(None, [started_sql, f"{evicted_sql} FROM evicted"]))
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
            # Again on the row itself: the subquery reads the statement's snapshot, and a row
            # another request ended meanwhile is re-checked only against this condition.
            "AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM last_login) RETURNING id, user_id), "
            f"new_session AS (INSERT INTO {tables['session']} (id, user_id, created_at, "
            "expires_at, last_used_at, revoked_at, user_agent, ip_address, authenticated_at, "
            "password_stamp) "
            "SELECT %s, id, %s, %s, %s, NULL, %s, %s, %s, %s FROM last_login RETURNING id), "
            f"new_token AS (INSERT INTO {tables['token']} (digest, session_id, created_at, "
            "expires_at, used_at, successor_seal) SELECT %s, id, %s, %s, NULL, '' "
            "FROM new_session RETURNING 1), "
            f"logged AS (INSERT INTO {tables['event']} ({_EVENT_COLUMNS}) {logged_sql}) "
            "SELECT (SELECT count(*) FROM new_token), ARRAY(SELECT id FROM evicted)",
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
                *started_params,
                *_event_params(evicted, with_owner=False),
            ],
        )
        count, evicted_ids = cursor.fetchone()
    if count != 1:
        return None
    return [*started, *_for_each(evicted, [(pk, session.user_id) for pk in evicted_ids])]


def _start_session_orm(
    *,
    session: Session,
    token: RefreshToken,
    password: str,
    give_back: Sequence[str],
    keep_sessions: int,
    started: Sequence[SecurityEvent],
    evicted: SecurityEvent,
) -> list[SecurityEvent] | None:
    now = session.created_at
    with transaction.atomic():
        checked = User.objects.filter(pk=session.user_id, password=password, is_active=True)
        if not checked.update(last_login=now):
            return None
        if give_back:
            add_to_counters([(key, None) for key in give_back], amount=-1)
        beyond = Session.objects.filter(user_id=session.user_id).live(now).beyond(keep_sessions - 1)
        ended = _end_returning(beyond, now=now)
        session.save(force_insert=True)
        token.save(force_insert=True)
        written = [*started, *_for_each(evicted, ended)]
        SecurityEvent.objects.bulk_create(written)
    return written


def end_sessions(
    sessions: QuerySet[Session], *, now: datetime, ended: SecurityEvent
) -> list[SecurityEvent]:
    """End ``sessions`` at ``now`` and record ``ended`` once for each that was still live (its
    session and user filled in); return the events written. Exactly one event per ended
    session, however many requests end it at once: the UPDATE decides which request ended each
    row."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            written = _for_each(ended, _end_returning(sessions, now=now))
            SecurityEvent.objects.bulk_create(written)
            return written
    try:
        inner, inner_params = sessions.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return []
    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH ended AS (UPDATE {tables['session']} SET revoked_at = %s "  # noqa: S608
            f"WHERE revoked_at IS NULL AND id IN ({inner}) RETURNING id, user_id) "
            f"INSERT INTO {tables['event']} ({_EVENT_COLUMNS}) "
            f"{_EVENT_SELECT.format(user='ended.user_id', session='ended.id')} FROM ended "
            "RETURNING session_id, user_id",
            [now, *inner_params, *_event_params(ended, with_owner=False)],
        )
        return _for_each(ended, cursor.fetchall())


def _end_returning(sessions: QuerySet[Session], *, now: datetime) -> list[tuple[UUID, int]]:
    """End ``sessions`` at ``now``; the (session, user) of each that this statement ended."""
    try:
        inner, inner_params = sessions.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return []
    table = connection.ops.quote_name(Session._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET revoked_at = %s WHERE revoked_at IS NULL "  # noqa: S608
            f"AND id IN ({inner}) RETURNING id, user_id",
            [connection.ops.adapt_datetimefield_value(now), *inner_params],
        )
        return [(UUID(str(pk)), user_id) for pk, user_id in cursor.fetchall()]


# One event as a SELECT of literals, its user and session from the row it is about.
_EVENT_SELECT = "SELECT %s, %s, %s::timestamptz, {user}, %s, {session}, %s::inet, %s"


def _event_params(row: SecurityEvent, *, with_owner: bool = True) -> list:
    if not with_owner:
        return [row.name, row.reason, row.at, row.email, row.address, row.user_agent]
    return [
        row.name,
        row.reason,
        row.at,
        row.user_id,
        row.email,
        row.session_id,
        row.address,
        row.user_agent,
    ]


def _event_selects(rows: Sequence[SecurityEvent], *, source: str | None) -> tuple[str, list]:
    """``rows`` as SELECTs joined by UNION ALL; with ``source``, each gives its row only when
    ``source`` has one: the events of a change that may not happen."""
    select = _EVENT_SELECT.format(user="%s::bigint", session="%s::uuid")
    guard = f" WHERE EXISTS (SELECT 1 FROM {source})" if source else ""  # noqa: S608
    sql = " UNION ALL ".join(f"{select}{guard}" for _ in rows)
    return sql, [value for row in rows for value in _event_params(row)]


def _for_each(
    template: SecurityEvent, owners: Iterable[tuple[UUID | str, int]]
) -> list[SecurityEvent]:
    """A copy of ``template`` for each (session, user) of ``owners``."""
    return [
        SecurityEvent(
            name=template.name,
            reason=template.reason,
            at=template.at,
            user_id=user_id,
            email=template.email,
            session_id=UUID(str(session_id)),
            address=template.address,
            user_agent=template.user_agent,
        )
        for session_id, user_id in owners
    ]


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


def add_to_counters(
    keys: list[tuple[str, datetime | None]],
    *,
    amount: int,
    record: Sequence[SecurityEvent] = (),
) -> dict[str, int]:
    """Add ``amount`` to each counter (made, expiring at its date, if missing) and write the
    ``record`` events, at once; return the new counts. Rows are written in key order, in this
    statement and in every other that writes counters (``start_session``), so simultaneous
    requests that share counters take their row locks in one order and never deadlock."""
    if not keys or (record and connection.vendor != "postgresql"):
        with transaction.atomic():
            counts = add_to_counters(keys, amount=amount) if keys else {}
            SecurityEvent.objects.bulk_create(record)
        return counts
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
    counted = (
        f"INSERT INTO {table} (key, count, expires_at) VALUES {rows} "  # noqa: S608
        # Never below zero: a count given back twice (a window purged between) stays valid.
        f"ON CONFLICT (key) DO UPDATE SET count = CASE WHEN {table}.count + %s < 0 THEN 0 "
        f"ELSE {table}.count + %s END RETURNING key, count"
    )
    params += [amount, amount]
    if record:
        # PostgreSQL: the events in the same statement, so a login's failure costs no round trip
        # more than its counting.
        logged, logged_params = _event_selects(record, source=None)
        counted = (
            f"WITH counted AS ({counted}), logged AS (INSERT INTO "  # noqa: S608
            f"{_tables()['event']} ({_EVENT_COLUMNS}) {logged}) SELECT key, count FROM counted"
        )
        params += logged_params
    with connection.cursor() as cursor:
        cursor.execute(counted, params)
        return dict(cursor.fetchall())


def claim_once(keys: list[tuple[str, datetime]]) -> set[str]:
    """Make a marker row for each key (expiring at its date) unless one exists; return the keys
    this statement made: of simultaneous claims of one key exactly one gets it, so what follows
    a claim happens once per key. In key order, as every write of counters."""
    table = connection.ops.quote_name(AttemptCounter._meta.db_table)
    rows = ", ".join(["(%s, 0, %s)"] * len(keys))
    params = [
        value
        for key, expires_at in sorted(keys)
        for value in (key, connection.ops.adapt_datetimefield_value(expires_at))
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES {rows} "  # noqa: S608
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            params,
        )
        return {key for (key,) in cursor.fetchall()}
