"""How long security events are kept: ``lifetimes.event_retention()`` (the live setting
``SECURITY_EVENT_RETENTION_DAYS``, bounded) and the daily purge that applies it.

The purge tests need ``services.purge`` to delete the events past their retention, under the
key ``security_events``."""

import io
from datetime import timedelta

from constance.test import override_config
from django.core.management import call_command
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from app.accounts import events, services
from app.accounts.lifetimes import event_retention
from app.accounts.models import SecurityEvent, User
from tests.accounts_tests.factories import PASSWORD, make_user


class EventRetentionTests(TestCase):
    def test_events_are_kept_90_days_by_default(self):
        self.assertEqual(event_retention(), timedelta(days=90))

    def test_the_retention_is_read_at_call_time_and_held_within_its_bounds(self):
        cases = {7: 7, 0: 1, -5: 1, 3650: 3650, 100_000: 3650}
        for stored, kept in cases.items():
            with self.subTest(stored=stored), override_config(SECURITY_EVENT_RETENTION_DAYS=stored):
                self.assertEqual(event_retention(), timedelta(days=kept))

    def test_the_constance_page_refuses_a_retention_out_of_its_bounds(self):
        self.client.force_login(
            User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        )
        url = reverse("admin:constance_config_changelist")
        for value in ("0", "3651"):
            with self.subTest(value):
                form = self.client.get(url).context["form"]
                data = {name: form[name].value() for name in form.fields}
                data["SECURITY_EVENT_RETENTION_DAYS"] = value
                response = self.client.post(url, data)
                self.assertEqual(response.status_code, 200)
                self.assertIn("SECURITY_EVENT_RETENTION_DAYS", response.context["form"].errors)


class EventPurgeTests(TestCase):
    """Needs the lead's line in ``services.purge``."""

    def setUp(self):
        self.user = make_user()
        self.now = timezone.now()

    def record_at(self, at):
        (row,) = events.record(
            [events.event(events.Name.LOGIN_SUCCESS, now=at, user_id=self.user.pk)]
        )
        return row

    @override_config(SECURITY_EVENT_RETENTION_DAYS=30)
    def test_the_purge_deletes_the_events_past_their_retention_and_keeps_the_rest(self):
        old = self.record_at(self.now - timedelta(days=30, seconds=1))
        kept = self.record_at(self.now - timedelta(days=29))
        deleted = services.purge(now=self.now)
        self.assertEqual(deleted["security_events"], 1)
        self.assertFalse(SecurityEvent.objects.filter(pk=old.pk).exists())
        self.assertTrue(SecurityEvent.objects.filter(pk=kept.pk).exists())

    def test_the_command_reports_the_events_it_deleted(self):
        self.record_at(self.now - timedelta(days=91))
        out = io.StringIO()
        call_command("purge_expired", stdout=out)
        self.assertIn("1 security_events", out.getvalue())
