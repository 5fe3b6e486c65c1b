"""Attempt counters, counted before the work they guard, and spent only by work that was done.

Count first, then decide: one statement (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``,
on PostgreSQL and SQLite alike) adds the attempt to every counter it concerns and returns the
new counts, so any number of simultaneous requests, processes or Lambda instances see distinct
counts and no more than a limit get through in one fixed window. A request refused there gives
its counts straight back: it checked no password, so it spends nobody's budget, and a flood from
one address cannot lock anyone else out.

What must be recorded once per limit and window (its first refusal,
``excess_rate_limit_exceeded``; the failure that reaches it, ``authn_login_fail_max`` or
``authn_login_lock``) claims a marker row beside the counter first (``sql.claim_once``): counts
go down as well as up while attempts give back their other half, so no count can tell the
first time, and of simultaneous claims exactly one wins.

A login attempt is counted twice over, once as a wrong password and once as a success; when the
password has been checked, the attempt gives back the half that did not happen (``Attempt``).
Wrong passwords are limited per (e-mail, address) pair, per address, and per e-mail across
every address over a longer window (NIST SP 800-63B section 5.2.2: at most 100 failures per
account); successes per e-mail and per address, which bounds the hashing a known password buys.

The counters live in a table of their own that nothing culls; the daily purge deletes expired
windows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from app.accounts import events, sql
from app.accounts.errors import (
    EmailChangeThrottled,
    LoginThrottled,
    MailThrottled,
    RegistrationThrottled,
    TooManyLogins,
)
from app.accounts.models import AttemptCounter, SecurityEvent

# A request with no client address (never the case behind API Gateway or a WSGI server) is
# still counted, all such requests together.
UNKNOWN_ADDRESS = "unknown"

# One IPv6 subscriber is given a /64 or more (RFC 6177), so its addresses count as one.
IPV6_PREFIX = 64


def client_subject(address: str | None) -> str:
    """What an address is counted as: the address itself for IPv4, its /64 for IPv6."""
    if not address:
        return UNKNOWN_ADDRESS
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Limit:
    """One counter: its scope and subject, how many per window, the window in seconds."""

    scope: str
    subject: tuple[str, ...]
    limit: int
    window_seconds: int

    def __post_init__(self) -> None:
        # Each scope is a reason the admin offers to filter by: a new one must be listed.
        if self.scope not in SCOPES:
            raise ValueError(f"{self.scope!r} is not in throttling.SCOPES")


@dataclass(frozen=True)
class Attempt:
    """A counted login attempt: ``failure_keys`` hold it as a wrong password, ``success_keys``
    as a success. Once the password is checked, the half that did not happen is given back,
    with the events of the outcome in the same statement. ``uses_up`` names the wrong-password
    limits this attempt reaches, should it fail: ``login-pair`` (this e-mail from this address)
    and ``login-email`` (the e-mail's ceiling, from every address)."""

    failure_keys: tuple[str, ...]
    success_keys: tuple[str, ...]
    uses_up: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def succeeded(self, *, record: tuple[SecurityEvent, ...] = ()) -> None:
        """The password was right: it was not a guess."""
        give_back(self.failure_keys, record=record)

    def failed(self, *, record: tuple[SecurityEvent, ...] = ()) -> None:
        """The password was wrong: it was not a success."""
        give_back(self.success_keys, record=record)

    def reached(self) -> frozenset[str]:
        """The limits this failed attempt reached first in their windows (of ``uses_up``): a
        later failure at the same limit in the same window gets none."""
        if not self.uses_up:
            return frozenset()
        markers = {f"{_REACHED}{key}": scope for scope, (key, _) in self.uses_up.items()}
        claimed = sql.claim_once(
            [(marker, self.uses_up[scope][1]) for marker, scope in markers.items()]
        )
        return frozenset(markers[marker] for marker in claimed)


def window(now: datetime, size: int) -> tuple[datetime, datetime]:
    """The fixed window of ``size`` seconds that holds ``now``: its start and its end."""
    start = int(now.timestamp()) // size * size
    return datetime.fromtimestamp(start, tz=UTC), datetime.fromtimestamp(start + size, tz=UTC)


def count_login(*, email: str, address: str | None, now: datetime, user_agent: str = "") -> Attempt:
    """Count one password check for ``email`` (canonical form) from ``address``.

    Raises ``LoginThrottled`` when a wrong-password limit is used up and ``TooManyLogins`` when
    a success limit is; either way before any hashing, and the refused attempt spends nobody's
    budget.
    """
    client = _Client(address=address, user_agent=user_agent, email=email)
    limits = settings.LOGIN_THROTTLE
    address = client_subject(address)
    window_seconds = limits["window_seconds"]
    failures = [
        Limit("login-pair", (email, address), limits["per_pair"], window_seconds),
        Limit("login-address", (address,), limits["per_address"], window_seconds),
        Limit("login-email", (email,), limits["ceiling"], limits["ceiling_window_seconds"]),
    ]
    successes = [
        Limit("login-ok-email", (email,), limits["successes"], window_seconds),
        Limit("login-ok-address", (address,), limits["successes"], window_seconds),
    ]
    keys, over, retry_after, counts = _count([*failures, *successes], now=now, client=client)
    failure_keys, success_keys = keys[: len(failures)], keys[len(failures) :]
    if set(over) & set(failure_keys):
        raise LoginThrottled(retry_after=retry_after)
    if over:
        raise TooManyLogins(retry_after=retry_after)
    uses_up = {
        limit.scope: (key, window(now, limit.window_seconds)[1])
        for limit, key in zip(failures, failure_keys, strict=True)
        if limit.scope != "login-address" and counts[key] >= limit.limit
    }
    return Attempt(failure_keys=failure_keys, success_keys=success_keys, uses_up=uses_up)


def count_registration(*, address: str | None, now: datetime, user_agent: str = "") -> None:
    """Count one registration from ``address``; ``RegistrationThrottled`` past the limit."""
    limits = settings.REGISTER_THROTTLE
    subject = (client_subject(address),)
    limit = Limit("register-address", subject, limits["per_address"], limits["window_seconds"])
    client = _Client(address=address, user_agent=user_agent)
    _, over, retry_after, _ = _count([limit], now=now, client=client)
    if over:
        raise RegistrationThrottled(retry_after=retry_after)


def count_email_change(
    *, user_id: int, address: str | None, now: datetime, user_agent: str = ""
) -> None:
    """Count one e-mail change of ``user_id`` from ``address``; ``EmailChangeThrottled`` past a
    limit. Its answer tells whether an address is taken, so it is no faster than registering."""
    limits = settings.EMAIL_CHANGE_THROTTLE
    window_seconds = limits["window_seconds"]
    counted = [
        Limit("email-change-user", (str(user_id),), limits["per_user"], window_seconds),
        Limit(
            "email-change-address",
            (client_subject(address),),
            limits["per_address"],
            window_seconds,
        ),
    ]
    client = _Client(address=address, user_agent=user_agent, user_id=user_id)
    _, over, retry_after, _ = _count(counted, now=now, client=client)
    if over:
        raise EmailChangeThrottled(retry_after=retry_after)


def count_mail(
    *,
    email: str,
    address: str | None,
    now: datetime,
    user_agent: str = "",
    user_id: int | None = None,
) -> None:
    """Count one message asked for ``email`` (canonical form, registered or not) from
    ``address``; ``MailThrottled`` past a limit, whatever the address's account."""
    limits = settings.MAIL_THROTTLE
    window_seconds = limits["window_seconds"]
    counted = [
        Limit("mail-email", (email,), limits["per_email"], window_seconds),
        Limit("mail-address", (client_subject(address),), limits["per_address"], window_seconds),
    ]
    client = _Client(address=address, user_agent=user_agent, email=email, user_id=user_id)
    _, over, retry_after, _ = _count(counted, now=now, client=client)
    if over:
        raise MailThrottled(retry_after=retry_after)


def give_back(keys: tuple[str, ...], *, record: tuple[SecurityEvent, ...] = ()) -> None:
    """Uncount one attempt on each of ``keys``, and record ``record`` in the same statement."""
    if keys or record:
        sql.add_to_counters([(key, None) for key in keys], amount=-1, record=record)
        events.announce(record)


def lift_email(*, email: str) -> int:
    """Forget the wrong passwords counted for ``email`` in every window (a completed password
    reset proves the owner); return how many counters were cleared."""
    counted = [_key_prefix(scope, (email,)) for scope in ("login-email", "login-pair")]
    # With their markers: a lock after the lift is a new one, recorded again.
    prefixes = [*counted, *(f"{_REACHED}{prefix}" for prefix in counted)]
    cleared = 0
    for prefix in prefixes:
        cleared += AttemptCounter.objects.filter(key__startswith=prefix).delete()[0]
    return cleared


def purge(*, now: datetime) -> int:
    """Delete the counters of windows that have ended; return how many."""
    deleted, _ = AttemptCounter.objects.filter(expires_at__lte=now).delete()
    return deleted


@dataclass(frozen=True)
class _Client:
    """Who a throttled request came from, for the event its first refusal records."""

    address: str | None
    user_agent: str
    email: str = ""
    user_id: int | None = None


def _count(
    limits: list[Limit], *, now: datetime, client: _Client
) -> tuple[tuple[str, ...], list[str], int, dict[str, int]]:
    """Add one to each counter; return the keys counted, those over their limit, the seconds
    until the last of those windows ends and the new counts. Over a limit, every count is given
    back at once, and the first request over a limit in its window records
    ``excess_rate_limit_exceeded`` (reason: the limit's scope) in the same statement."""
    keyed = []
    for limit in limits:
        start, end = window(now, limit.window_seconds)
        keyed.append((_key(limit.scope, limit.subject, start), limit, end))
    counts = sql.add_to_counters([(key, end) for key, _, end in keyed], amount=1)
    keys = tuple(key for key, _, _ in keyed)
    over = [(key, limit, end) for key, limit, end in keyed if counts[key] > limit.limit]
    if not over:
        return keys, [], 0, counts
    claimed = sql.claim_once([(f"{_REFUSED}{key}", end) for key, _, end in over])
    first = [limit.scope for key, limit, _ in over if f"{_REFUSED}{key}" in claimed]
    record = tuple(
        events.event(
            events.Name.RATE_LIMIT_EXCEEDED,
            now=now,
            reason=scope,
            user_id=client.user_id,
            # What was typed is kept only when it is an e-mail: never a password typed in
            # its place. Worked out only for the refusal recorded.
            email=events.typed_email(client.email),
            address=client.address,
            user_agent=client.user_agent,
        )
        for scope in first
    )
    give_back(keys, record=record)
    retry_after = max(math.ceil((end - now).total_seconds()) for _, _, end in over)
    return keys, [key for key, _, _ in over], max(1, retry_after), counts


# Every limit's scope: the reason of its ``excess_rate_limit_exceeded``.
SCOPES = (
    "login-pair",
    "login-address",
    "login-email",
    "login-ok-email",
    "login-ok-address",
    "register-address",
    "email-change-user",
    "email-change-address",
    "mail-email",
    "mail-address",
)

# The markers of what is recorded once per counter and window (``sql.claim_once``).
_REFUSED = "over:"
_REACHED = "max:"


def _key_prefix(scope: str, subject: tuple[str, ...]) -> str:
    # Hashed so that no e-mail or address sits in the table in clear; part by part, so that
    # every pair of one e-mail shares the e-mail's prefix.
    digests = [hashlib.sha256(part.encode()).hexdigest() for part in subject]
    return ":".join([scope, digests[0], *(digest[:32] for digest in digests[1:])]) + ":"


def _key(scope: str, subject: tuple[str, ...], start: datetime) -> str:
    return f"{_key_prefix(scope, subject)}{int(start.timestamp())}"
