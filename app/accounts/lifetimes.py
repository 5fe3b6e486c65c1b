"""The live token and session lifetimes (django-constance, database backend), read at call time.

``lifetimes()`` reads them on their own; ``with_lifetimes(queryset)`` reads them inside a query
the caller makes anyway (as subqueries of constance's table), so that the hot paths, refresh
and login, spend no query of their own on them. Either way a change in the admin applies to the
next token issued, in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from constance import settings as constance_settings
from constance.codecs import loads
from constance.models import Constance
from constance.utils import get_values_for_keys
from django.db.models import QuerySet, Subquery

KEYS = ("ACCESS_TOKEN_LIFETIME", "REFRESH_TOKEN_LIFETIME", "SESSION_LIFETIME")


@dataclass(frozen=True)
class Lifetimes:
    access: timedelta
    refresh: timedelta
    session: timedelta

    @classmethod
    def from_values(cls, values: dict) -> Lifetimes:
        """From constance's values by key (seconds for the access token, durations else)."""
        return cls(
            access=timedelta(seconds=values["ACCESS_TOKEN_LIFETIME"]),
            refresh=values["REFRESH_TOKEN_LIFETIME"],
            session=values["SESSION_LIFETIME"],
        )


def lifetimes() -> Lifetimes:
    """Read the three lifetimes now, in one query."""
    return Lifetimes.from_values(get_values_for_keys(list(KEYS)))


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
