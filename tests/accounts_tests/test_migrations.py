"""``app/accounts/migrations``: rows written before sessions and canonical e-mails carry over."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import TransactionTestCase

from app.accounts import services
from app.accounts.errors import InvalidRefreshToken
from app.accounts.tokens import new_refresh_token, refresh_token_digest

BEFORE = [("accounts", "0001_initial")]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.slow
class SessionsAndCanonicalEmailsMigrationTests(TransactionTestCase):
    def migrate(self, targets):
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps

    def tearDown(self):
        self.migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    def test_token_families_become_sessions_and_emails_their_canonical_form(self):
        old = self.migrate(BEFORE)
        User, RefreshToken = (
            old.get_model("accounts", "User"),
            old.get_model("accounts", "RefreshToken"),
        )
        mixed = User.objects.create(email="Mixed.Case@Example.COM", password="!")
        fullwidth = User.objects.create(email="mixed.case@ｅｘａｍｐｌｅ.com", password="!")
        live, revoked = new_refresh_token(), new_refresh_token()
        family, ended = (
            "6f1c1c52-9d1a-4f7e-8a56-0a4c3e1f2b3c",
            "0b6b1a8e-2b5e-4c1e-9f0d-3c2a1b4d5e6f",
        )
        for token, family_id, revoked_at in ((live, family, None), (revoked, ended, T0)):
            RefreshToken.objects.create(
                digest=refresh_token_digest(token),
                user=mixed,
                family=family_id,
                created_at=T0,
                expires_at=T0 + timedelta(days=30),
                revoked_at=revoked_at,
            )

        new = self.migrate([("accounts", "0004_tokens_belong_to_sessions")])
        User, Session = new.get_model("accounts", "User"), new.get_model("accounts", "Session")
        self.assertEqual(User.objects.get(pk=mixed.pk).email, "mixed.case@example.com")
        # The second spelling of the same address keeps what it had: an operator decides.
        self.assertEqual(User.objects.get(pk=fullwidth.pk).email, "mixed.case@ｅｘａｍｐｌｅ.com")
        sessions = {str(session.pk): session for session in Session.objects.all()}
        self.assertEqual(set(sessions), {family, ended})
        self.assertIsNone(sessions[family].revoked_at)
        self.assertEqual(sessions[ended].revoked_at, T0)
        self.assertEqual(sessions[family].expires_at, T0 + timedelta(days=30))

        self.migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
        services.rotate(refresh_token=live, now=T0 + timedelta(days=1))
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=revoked, now=T0 + timedelta(days=1))
