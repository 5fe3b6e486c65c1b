"""Failed-login counting per e-mail and per client address, in the shared cache.

Fixed windows of ``LOGIN_THROTTLE["window_seconds"]``: every process (and Lambda instance)
sees the same counts because the default cache is Django's database cache.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.core.cache import cache

from app.accounts.errors import LoginThrottled


def _window(now: datetime) -> tuple[int, int]:
    size = settings.LOGIN_THROTTLE["window_seconds"]
    start = int(now.timestamp()) // size * size
    return start, size


def _keys(*, email: str, address: str | None, now: datetime) -> dict[str, int]:
    """Map each counter's cache key to its limit."""
    start, _ = _window(now)
    limits = settings.LOGIN_THROTTLE
    subjects = {("email", email.strip().lower()): limits["per_email"]}
    if address:
        subjects[("address", address)] = limits["per_address"]
    return {
        # Hashed so that no address or e-mail sits in the cache table in clear.
        f"login-failures:{kind}:{hashlib.sha256(value.encode()).hexdigest()}:{start}": limit
        for (kind, value), limit in subjects.items()
    }


def check_login_allowed(*, email: str, address: str | None, now: datetime) -> None:
    """Raise ``LoginThrottled`` when the e-mail or the address has used up its failures."""
    keys = _keys(email=email, address=address, now=now)
    counts = cache.get_many(list(keys))
    if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
        start, size = _window(now)
        raise LoginThrottled(retry_after=max(1, start + size - int(now.timestamp())))


def record_login_failure(*, email: str, address: str | None, now: datetime) -> None:
    """Count one failed login against the e-mail and the address."""
    _, size = _window(now)
    for key in _keys(email=email, address=address, now=now):
        if not cache.add(key, 1, timeout=size):
            try:
                cache.incr(key)
            except ValueError:
                # Expired between add() and incr(): start the count again.
                cache.set(key, 1, timeout=size)
