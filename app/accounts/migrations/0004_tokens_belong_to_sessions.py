# Every refresh token belongs to a session; the family, user and revocation of a token now
# live on its session. E-mails are unique in their canonical form, so LOWER() is not needed.

import django.db.models.deletion
from django.db import migrations, models

import app.accounts.models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_sessions_from_families_and_canonical_emails"),
    ]

    operations = [
        migrations.AlterField(
            model_name="refreshtoken",
            name="session",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tokens",
                to="accounts.session",
            ),
        ),
        migrations.RemoveField(model_name="refreshtoken", name="family"),
        migrations.RemoveField(model_name="refreshtoken", name="revoked_at"),
        migrations.RemoveField(model_name="refreshtoken", name="user"),
        migrations.RemoveConstraint(model_name="user", name="accounts_user_email_ci_unique"),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=app.accounts.models.EmailAddressField(
                error_messages={"unique": "A user with that e-mail address already exists."},
                max_length=254,
                unique=True,
                verbose_name="e-mail address",
            ),
        ),
    ]
