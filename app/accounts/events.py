"""Security events: the rows kept of what happened to an account, and their log lines.

A service builds its events with ``event()`` and writes them in the transaction of the change
they record: with ``record()``, or inside one of the hot paths' statements (``sql``), which then
call ``announce()``. Either way each event becomes a log line of the ``app.security`` logger once
its transaction commits, so a rolled-back change is neither kept nor logged. Routine refreshes
are no events: they are counted as metrics.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from app import metrics
from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.models import SecurityEvent

Name = SecurityEvent.Name

logger = logging.getLogger("app.security")

# The events that are metrics too (login outcomes, reuse), counted as they are logged.
METRICS = {
    Name.LOGIN_SUCCESS: metrics.LOGIN_SUCCEEDED,
    Name.LOGIN_FAIL: metrics.LOGIN_FAILED,
    Name.TOKEN_REUSE: metrics.REFRESH_TOKEN_REUSED,
}

USER_AGENT_MAX_LENGTH = SecurityEvent._meta.get_field("user_agent").max_length
EMAIL_MAX_LENGTH = SecurityEvent._meta.get_field("email").max_length


class Reason:
    """The ``reason`` of an event: for ``session_expired``, who or what ended the session."""

    # session_expired
    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    ENDED_BY_USER = "ended_by_user"
    PASSWORD_CHANGE = "password_change"
    PASSWORD_RESET = "password_reset"
    EMAIL_REVERT = "email_revert"
    ADMIN = "admin"
    DEACTIVATED = "deactivated"
    REUSE = "reuse"
    SESSION_CAP = "session_cap"
    EXPIRED = "expired"
    # authn_login_fail
    WRONG_PASSWORD = "wrong_password"
    UNKNOWN_ACCOUNT = "unknown_account"
    INACTIVE = "inactive"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    # authn_login_lock (OWASP's word for a lock after too many failures)
    MAX_RETRIES = "maxretries"
    # e-mail changes: at once, or once the new address is verified
    IMMEDIATE = "immediate"
    CONFIRMED = "confirmed"


def event(
    name: str,
    *,
    now: datetime,
    user_id: int | None = None,
    session_id: UUID | str | None = None,
    reason: str = "",
    email: str = "",
    address: str | None = None,
    user_agent: str = "",
) -> SecurityEvent:
    """An event at ``now``, not yet saved, with the client's address and user agent made fit
    to keep (``ip_or_none``, ``printable``)."""
    return SecurityEvent(
        name=name,
        reason=reason,
        at=now,
        user_id=user_id,
        session_id=UUID(str(session_id)) if session_id else None,
        email=email[:EMAIL_MAX_LENGTH],
        address=ip_or_none(address),
        user_agent=printable(user_agent),
    )


def record(rows: Iterable[SecurityEvent]) -> list[SecurityEvent]:
    """Save ``rows`` in the current transaction, and log them once it commits."""
    rows = list(rows)
    if rows:
        SecurityEvent.objects.bulk_create(rows)
        announce(rows)
    return rows


def record_one(name: str, **fields: Any) -> SecurityEvent:
    """``event(name, **fields)``, saved in the current transaction and logged once it commits."""
    return record([event(name, **fields)])[0]


def announce(rows: Iterable[SecurityEvent]) -> None:
    """Log each of ``rows`` (saved by the caller) once the current transaction commits: one line
    each, with the account and session but no e-mail, user agent or anything secret; login
    outcomes and reuse are counted as metrics too."""
    rows = list(rows)
    if rows:
        transaction.on_commit(lambda: _log(rows))


def _log(rows: list[SecurityEvent]) -> None:
    for row in rows:
        if row.name in METRICS:
            metrics.count(METRICS[row.name])
        fields = {
            "event": row.name,
            "reason": row.reason or None,
            "user_id": row.user_id,
            "session_id": str(row.session_id) if row.session_id else None,
            "client_address": row.address,
        }
        logger.info(
            "%s%s",
            row.name,
            f" ({row.reason})" if row.reason else "",
            extra={key: value for key, value in fields.items() if value is not None},
        )


def typed_email(text: str) -> str:
    """What was typed for an e-mail, canonical, to keep in an event; empty when it is no
    address, for it may be a password typed in the wrong field."""
    try:
        email = canonical_email(text)
        validate_email(email)
    except (InvalidEmail, ValidationError):
        return ""
    return email


def printable(user_agent: str) -> str:
    """``user_agent`` fit to keep: headers may carry control characters (PostgreSQL refuses NUL
    in text), and a bounded length."""
    return "".join(char for char in user_agent if char.isprintable())[:USER_AGENT_MAX_LENGTH]


def ip_or_none(address: str | None) -> str | None:
    """``address`` as an IP address to keep, or ``None`` when it is none."""
    try:
        ip = ipaddress.ip_address(address) if address else None
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        # A zone (fe80::1%eth0) names an interface of the server, not the client; PostgreSQL's
        # inet refuses it.
        ip = ipaddress.IPv6Address(ip.packed)
    return str(ip) if ip else None
