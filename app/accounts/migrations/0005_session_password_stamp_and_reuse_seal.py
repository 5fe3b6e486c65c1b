# Sessions carry when their password was checked and a keyed digest of the password hash they
# started under; refresh tokens may keep their successor sealed for a retry. Live sessions keep
# working: each is stamped with its user's current password and authenticated at its start.

import django.utils.timezone
from django.db import migrations, models

from app.accounts.tokens import password_stamps


def stamp_sessions(apps, schema_editor):
    Session = apps.get_model("accounts", "Session")
    sessions = Session.objects.select_related("user").only("id", "created_at", "user__password")
    for session in sessions.iterator(chunk_size=1000):
        session.authenticated_at = session.created_at
        session.password_stamp = password_stamps(session.user.password)[0]
        session.save(update_fields=["authenticated_at", "password_stamp"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_tokens_belong_to_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="authenticated_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="session",
            name="password_stamp",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="refreshtoken",
            name="successor_seal",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
        migrations.RunPython(stamp_sessions, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["user", "-created_at"], name="session_user_created"),
        ),
        migrations.AddIndex(
            model_name="refreshtoken",
            index=models.Index(
                condition=models.Q(("successor_seal", ""), _negated=True),
                fields=["session"],
                name="token_sealed",
            ),
        ),
    ]
