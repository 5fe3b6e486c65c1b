"""The links sent by mail (password reset, e-mail verification, "this wasn't me"): issuing
their one-time tokens, claiming one once, and the deferred tasks that mail them.

A task runs after the response (``app.tasks.defer``): it looks the user up, issues the token
and sends the message there, so the request that asked for it does the same work whether the
address has an account or not, and the token exists only in the message and as a digest.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from constance import config
from django.db import transaction
from django.utils import timezone

from app.accounts import events, mail, tokens
from app.accounts.lifetimes import bounded
from app.accounts.models import MailToken, User

Purpose = MailToken.Purpose

# Each purpose's live setting (constance) and the name of its bounds.
_LIFETIMES = {
    Purpose.RESET: ("PASSWORD_RESET_LIFETIME", "password_reset"),
    Purpose.VERIFY: ("EMAIL_VERIFICATION_LIFETIME", "email_verification"),
    Purpose.REVERT: ("EMAIL_REVERT_LIFETIME", "email_revert"),
}


def lifetime(purpose: str) -> timedelta:
    """How long a token of ``purpose`` issued now works (constance, read now, bounded)."""
    key, bounds = _LIFETIMES[purpose]
    return bounded(getattr(config, key), bounds)


def issue(*, user: User, purpose: str, email: str, now: datetime) -> str:
    """Create a token of ``purpose`` for ``user`` sent to (or giving back) ``email``; return it.

    A newer reset or verification supersedes the user's earlier ones; reverts do not (each
    change's old address keeps its own way back). A reset is bound to the current password.
    """
    if purpose != Purpose.REVERT:
        MailToken.objects.filter(user_id=user.pk, purpose=purpose).void(now)
    token = tokens.new_mail_token()
    MailToken.objects.create(
        digest=tokens.mail_token_digest(token),
        user_id=user.pk,
        purpose=purpose,
        email=email,
        password_stamp=tokens.password_stamp(user.password) if purpose == Purpose.RESET else "",
        created_at=now,
        expires_at=now + lifetime(purpose),
    )
    return token


def find(*, token: str, purpose: str) -> MailToken | None:
    """The row of ``token`` if it is a token of ``purpose`` (used or not), else ``None``."""
    try:
        digest = tokens.mail_token_digest(token)
    except tokens.InvalidMailTokenFormat:
        return None
    return MailToken.objects.filter(digest=digest, purpose=purpose).first()


def claim(*, row: MailToken, user: User, now: datetime) -> bool:
    """Use ``row`` up at ``now`` if it still works: unused, not expired, and for a reset still
    on ``user``'s current password. A compare-and-set: of simultaneous claims one wins."""
    usable = MailToken.objects.usable(now).filter(pk=row.pk, user_id=user.pk)
    if row.purpose == Purpose.RESET:
        usable = usable.filter(password_stamp__in=tokens.password_stamps(user.password))
    return usable.update(used_at=now) == 1


def send_password_reset(
    *,
    email: str,
    base_url: str,
    address: str | None = None,
    user_agent: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> None:
    """Deferred: mail a reset link to the active user whose e-mail is ``email``, recording
    ``password_reset_requested`` with the requester's ``address`` and ``user_agent`` (``reason``:
    empty when the user asked, else who did); nobody's, nothing is sent or recorded."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order: the user's row first, as every write to the user's tokens takes it.
        user = User.objects.select_for_update().filter(email=email, is_active=True).first()
        if user is None:
            return
        token = issue(user=user, purpose=Purpose.RESET, email=user.email, now=now)
        events.record_one(
            events.Name.PASSWORD_RESET_REQUESTED,
            now=now,
            reason=reason,
            user_id=user.pk,
            email=user.email,
            address=address,
            user_agent=user_agent,
        )
    _send(Purpose.RESET, to=user.email, token=token, base_url=base_url)


def send_verification(*, user_id: int, base_url: str, now: datetime | None = None) -> None:
    """Deferred: mail a verification link to the user's pending e-mail, or else to its e-mail
    if not yet verified; nothing if neither needs one."""
    now = now or timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None:
            return
        to = user.pending_email or (user.email if user.email_verified_at is None else "")
        if not to:
            return
        token = issue(user=user, purpose=Purpose.VERIFY, email=to, now=now)
    _send(Purpose.VERIFY, to=to, token=token, base_url=base_url)


# The digest of a reserved revert token until its notice arms it: no SHA-256 hex digest starts
# so, and none of a presented token can match it.
_UNARMED = "unarmed:"


def reserve_revert(*, user: User, old_email: str, now: datetime) -> MailToken:
    """Record, in the transaction that moves ``user`` off ``old_email``, the way back to it:
    a revert token not yet armed (its digest matches no token). From that commit on, nobody
    else may take the address, and a revert of an earlier change voids it as it voids any
    later change's link; ``send_email_change_notice`` arms it and mails it."""
    return MailToken.objects.create(
        digest=_UNARMED + secrets.token_hex(28),
        user_id=user.pk,
        purpose=Purpose.REVERT,
        email=old_email,
        created_at=now,
        expires_at=now + lifetime(Purpose.REVERT),
    )


def send_email_change_notice(*, token_id: int, base_url: str, now: datetime | None = None) -> None:
    """Deferred: arm the revert token ``reserve_revert`` recorded and mail its old address the
    notice with it; nothing once that token is void (a revert came first). Never sent to the
    new address, never with a token for it."""
    now = now or timezone.now()
    token = tokens.new_mail_token()
    # Armed and sent in one transaction: a send that fails (SES throttled) leaves the token
    # unarmed for Lambda's retry of the invocation; once sent, a second delivery finds it
    # armed and sends nothing (arming again would kill the link already sent).
    with transaction.atomic():
        armed = (
            MailToken.objects.usable(now)
            .filter(pk=token_id, purpose=Purpose.REVERT, digest__startswith=_UNARMED)
            .update(digest=tokens.mail_token_digest(token))
        )
        if not armed:
            return
        old_email = MailToken.objects.values_list("email", flat=True).get(pk=token_id)
        _send(Purpose.REVERT, to=old_email, token=token, base_url=base_url)


def void_ways_away(*, user: User, email: str, now: datetime, since: int | None = None) -> int:
    """Once ``email`` is proved the owner's again (a revert to it, a reset sent to it), void
    the revert links that would move the account to another address and that were issued
    after the first change away from ``email`` still revertible (or after ``since``, the
    revert token just used): those changes came after the account left ``email``, so their
    old addresses may be an intruder's. Earlier links stay: after A to B to A to C, the link to
    B dies and A's first link lives on. Ordered by row, not clock: every such row is written
    under the user's lock. Returns how many were voided."""
    reverts = MailToken.objects.usable(now).filter(user_id=user.pk, purpose=Purpose.REVERT)
    firsts = [
        pk
        for pk in (
            reverts.filter(email=email).order_by("pk").values_list("pk", flat=True).first(),
            since,
        )
        if pk is not None
    ]
    if not firsts:
        return 0
    return reverts.exclude(email=email).filter(pk__gt=min(firsts)).void(now)


# The message (app/accounts/mail.py) that carries a token of each purpose.
_MESSAGES = {
    Purpose.RESET: "password_reset",
    Purpose.VERIFY: "verify_email",
    Purpose.REVERT: "email_changed",
}


def _send(purpose: str, *, to: str, token: str, base_url: str) -> None:
    mail.send(
        kind=_MESSAGES[purpose],
        to=to,
        token=token,
        base_url=base_url,
        lifetime=spoken(lifetime(purpose)),
    )


def spoken(duration: timedelta) -> str:
    """A duration as a person says it: "1 hour", "7 days", "90 minutes"."""
    seconds = int(duration.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
