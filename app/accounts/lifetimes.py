"""The live token and session lifetimes (django-constance, database backend), read at call time.

``lifetimes()`` reads them on their own; ``with_lifetimes(queryset)`` reads them inside a query
the caller makes anyway (as subqueries of constance's table), so that the hot paths, refresh
and login, spend no query of their own on them. Either way a change in the admin applies to the
next token issued, in every process. ``event_retention()`` is the lifetime of a security event,
read by the daily purge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from constance import config
from constance import settings as constance_settings
from constance.codecs import loads
from constance.models import Constance
from constance.utils import get_values_for_keys
from django.conf import settings
from django.db.models import QuerySet, Subquery

KEYS = (
    "ACCESS_TOKEN_LIFETIME",
    "REFRESH_TOKEN_LIFETIME",
    "SESSION_LIFETIME",
    "REFRESH_REUSE_INTERVAL",
)


@dataclass(frozen=True)
class Lifetimes:
    """How long what a login or a refresh issues lives, and how long a used refresh token may
    still be retried (``reuse_interval``, zero for never)."""

    access: timedelta
    refresh: timedelta
    session: timedelta
    reuse_interval: timedelta

    @classmethod
    def from_values(cls, values: dict) -> Lifetimes:
        """From constance's values by key (seconds for the access token and the reuse interval,
        durations else), each held within the bounds the admin's form enforces, so that a value
        written past the form cannot break token dates."""
        return cls(
            access=bounded(timedelta(seconds=values["ACCESS_TOKEN_LIFETIME"]), "access"),
            refresh=bounded(values["REFRESH_TOKEN_LIFETIME"], "refresh"),
            session=bounded(values["SESSION_LIFETIME"], "session"),
            reuse_interval=bounded(
                timedelta(seconds=values["REFRESH_REUSE_INTERVAL"]), "reuse_interval"
            ),
        )


def bounded(value: timedelta, name: str) -> timedelta:
    """``value`` held within the bounds of live setting ``name`` (``LIVE_SETTING_BOUNDS``)."""
    low, high = settings.LIVE_SETTING_BOUNDS[name]
    return min(max(value, low), high)


def lifetimes() -> Lifetimes:
    """Read the live lifetimes now, in one query."""
    return Lifetimes.from_values(get_values_for_keys(list(KEYS)))


def event_retention() -> timedelta:
    """How long a security event is kept before the purge deletes it
    (``SECURITY_EVENT_RETENTION_DAYS``, read now), within its bounds."""
    return bounded(timedelta(days=config.SECURITY_EVENT_RETENTION_DAYS), "event_retention")


def with_lifetimes(queryset: QuerySet) -> QuerySet:
    """``queryset`` whose rows also carry the stored lifetimes (constance's database rows)."""
    stored = Constance.objects.values("value")
    return queryset.annotate(
        **{
            f"_lifetime_{key}": Subquery(
                stored.filter(key=f"{constance_settings.DATABASE_PREFIX}{key}")[:1]
            )
            for key in KEYS
        }
    )


def lifetimes_of(row) -> Lifetimes:
    """The lifetimes a row of ``with_lifetimes`` carries; a key never saved has its default."""
    values = {}
    for key in KEYS:
        raw = getattr(row, f"_lifetime_{key}")
        values[key] = loads(raw) if raw is not None else constance_settings.CONFIG[key][0]
    return Lifetimes.from_values(values)
