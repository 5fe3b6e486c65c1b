# Data for 0002 and 0004, in a transaction of its own (PostgreSQL refuses to alter a table
# with pending trigger events): a session per token family, e-mails in canonical form.

import logging

from django.db import migrations
from django.db.models import Max, Min

from app.accounts.emails import InvalidEmail, canonical_email

logger = logging.getLogger(__name__)


def families_to_sessions(apps, schema_editor):
    """One session per token family: its user, first and last token times, its revocation."""
    RefreshToken = apps.get_model("accounts", "RefreshToken")
    Session = apps.get_model("accounts", "Session")
    families = (
        RefreshToken.objects.values("family", "user_id")
        .annotate(
            first=Min("created_at"),
            last=Max("created_at"),
            ends=Max("expires_at"),
            revoked=Min("revoked_at"),
        )
        .order_by()
    )
    for family in families:
        session = Session.objects.create(
            id=family["family"],
            user_id=family["user_id"],
            created_at=family["first"],
            last_used_at=family["last"],
            expires_at=family["ends"],
            revoked_at=family["revoked"],
        )
        RefreshToken.objects.filter(family=family["family"]).update(session=session)


def canonical_emails(apps, schema_editor):
    """Store every e-mail in its canonical form; leave (and log) any that cannot be."""
    User = apps.get_model("accounts", "User")
    taken = set(User.objects.values_list("email", flat=True))
    for user in User.objects.order_by("pk").only("pk", "email"):
        try:
            email = canonical_email(user.email)
        except InvalidEmail as error:
            logger.warning("User %s keeps the e-mail %r: %s", user.pk, user.email, error)
            continue
        if email == user.email:
            continue
        if email in taken:
            logger.warning("User %s keeps %r: %r belongs to another user.", user.pk, user.email, email)
            continue
        User.objects.filter(pk=user.pk).update(email=email)
        taken.discard(user.email)
        taken.add(email)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_sessions_and_attempt_counters"),
    ]

    operations = [
        migrations.RunPython(families_to_sessions, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(canonical_emails, migrations.RunPython.noop, elidable=True),
    ]
