"""``manage.py purge_expired``."""

import io
from datetime import timedelta

from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from app.accounts import services
from app.accounts.models import RefreshToken
from tests.accounts_tests.factories import PASSWORD, make_user


class PurgeExpiredCommandTests(TestCase):
    def test_command_deletes_expired_rows_and_reports_the_counts(self):
        make_user()
        services.login(
            email="user@example.com", password=PASSWORD, now=timezone.now() - timedelta(days=31)
        )
        services.login(email="user@example.com", password=PASSWORD)
        out = io.StringIO()
        call_command("purge_expired", stdout=out)
        self.assertEqual(
            out.getvalue().strip(),
            "1 refresh_tokens, 1 sessions, 0 mail_tokens, 5 attempt_counters, 0 successor_seals, "
            "1 sessions_expired, 0 security_events",
        )
        self.assertEqual(RefreshToken.objects.count(), 1)
