"""Attempt counters per e-mail and per client address, counted before the work they guard.

Count first, then decide: one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``,
on PostgreSQL and SQLite alike) adds the attempt and returns the new counts, so any number of
simultaneous requests, processes or Lambda instances see distinct counts and no more than the
limit get through in one fixed window. The counters live in a table of their own that nothing
culls; the daily purge deletes expired windows.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import F

from app.accounts.errors import LoginThrottled, RegistrationThrottled
from app.accounts.models import AttemptCounter


@dataclass(frozen=True)
class Attempt:
    """Counted attempts that a success may give back (a success does not reset the counts)."""

    keys: tuple[str, ...]

    def give_back(self) -> None:
        """Uncount this attempt: it succeeded, so it was not a guess."""
        AttemptCounter.objects.filter(key__in=self.keys).update(count=F("count") - 1)


def window(now: datetime, size: int) -> tuple[datetime, datetime]:
    """The fixed window of ``size`` seconds that holds ``now``: its start and its end."""
    start = int(now.timestamp()) // size * size
    return datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + size, tz=UTC)


def count_login(*, email: str, address: str | None, now: datetime) -> Attempt:
    """Count one login attempt for ``email`` (canonical form) and ``address``.

    Raises ``LoginThrottled`` when either count passes its limit: the password is then not checked.
    """
    limits = settings.LOGIN_THROTTLE
    subjects = {("login-email", email): limits["per_email"]}
    if address:
        subjects[("login-address", address)] = limits["per_address"]
    retry_after, keys = _count(subjects, size=limits["window_seconds"], now=now)
    if retry_after:
        raise LoginThrottled(retry_after=retry_after)
    return Attempt(keys)


def count_registration(*, address: str | None, now: datetime) -> None:
    """Count one registration from ``address``; ``RegistrationThrottled`` past the limit."""
    if not address:
        return
    limits = settings.REGISTER_THROTTLE
    subjects = {("register-address", address): limits["per_address"]}
    retry_after, _ = _count(subjects, size=limits["window_seconds"], now=now)
    if retry_after:
        raise RegistrationThrottled(retry_after=retry_after)


def purge(*, now: datetime) -> int:
    """Delete the counters of windows that have ended; return how many."""
    deleted, _ = AttemptCounter.objects.filter(expires_at__lte=now).delete()
    return deleted


def _count(
    subjects: dict[tuple[str, str], int], *, size: int, now: datetime
) -> tuple[int, tuple[str, ...]]:
    """Add one to each subject's counter; return (seconds to wait or 0, the keys counted)."""
    start, end = window(now, size)
    limits = {_key(scope, value, start): limit for (scope, value), limit in subjects.items()}
    counts = _increment(list(limits), expires_at=end)
    if any(counts[key] > limit for key, limit in limits.items()):
        return max(1, math.ceil((end - now).total_seconds())), tuple(limits)
    return 0, tuple(limits)


def _key(scope: str, value: str, start: datetime) -> str:
    # Hashed so that no e-mail or address sits in the table in clear.
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"{scope}:{digest}:{int(start.timestamp())}"


def _increment(keys: list[str], *, expires_at: datetime) -> dict[str, int]:
    table = connection.ops.quote_name(AttemptCounter._meta.db_table)
    expires = connection.ops.adapt_datetimefield_value(expires_at)
    rows = ", ".join(["(%s, 1, %s)"] * len(keys))
    params = [value for key in keys for value in (key, expires)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES {rows} "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 "
            "RETURNING key, count",
            params,
        )
        return dict(cursor.fetchall())
