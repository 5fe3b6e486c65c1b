"""``manage.py purge_refresh_tokens``."""

import io
from datetime import timedelta

from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from app.accounts import services
from app.accounts.models import RefreshToken
from tests.accounts_tests.factories import PASSWORD, make_user


class PurgeRefreshTokensCommandTests(TestCase):
    def test_command_deletes_expired_tokens_and_reports_the_count(self):
        make_user()
        services.login(
            email="user@example.com", password=PASSWORD, now=timezone.now() - timedelta(days=31)
        )
        services.login(email="user@example.com", password=PASSWORD)
        out = io.StringIO()
        call_command("purge_refresh_tokens", stdout=out)
        self.assertEqual(out.getvalue().strip(), "Deleted 1 refresh tokens.")
        self.assertEqual(RefreshToken.objects.count(), 1)
