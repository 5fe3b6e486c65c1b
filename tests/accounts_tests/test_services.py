"""``app/accounts/services.py``: every write, with time passed in as ``now=``."""

import contextlib
from datetime import UTC, datetime, timedelta
from unittest import mock

import psycopg2
from constance.test import override_config
from django.conf import settings
from django.db import DatabaseError, connection
from django.test import TestCase, TransactionTestCase, override_settings

from app.accounts import services, tokens
from app.accounts.errors import (
    EmailTaken,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    LoginThrottled,
    RefreshTokenExpired,
    RefreshTokenReused,
)
from app.accounts.models import RefreshToken, User
from tests.accounts_tests.factories import PASSWORD, make_user

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def stored(refresh_token):
    return RefreshToken.objects.get(digest=tokens.refresh_token_digest(refresh_token))


class RegisterTests(TestCase):
    def test_register_creates_an_active_user_with_a_hashed_password(self):
        user = services.register(email="new@example.com", password=PASSWORD)
        self.assertTrue(user.is_active)
        self.assertNotEqual(user.password, PASSWORD)
        self.assertTrue(user.check_password(PASSWORD))

    def test_register_lowercases_the_domain_of_the_email(self):
        user = services.register(email="New@EXAMPLE.COM", password=PASSWORD)
        self.assertEqual(user.email, "New@example.com")

    def test_register_with_an_email_taken_in_another_case_raises_email_taken(self):
        make_user(email="user@example.com")
        with self.assertRaises(EmailTaken):
            services.register(email="USER@example.com", password=PASSWORD)
        self.assertEqual(User.objects.count(), 1)


class LoginTests(TestCase):
    def setUp(self):
        self.user = make_user()

    def test_login_returns_a_pair_for_the_user(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        claims = tokens.decode_access_token(pair.access_token, now=NOW)
        self.assertEqual(claims.user_id, self.user.pk)
        self.assertEqual(stored(pair.refresh_token).user, self.user)

    def test_login_ignores_the_case_of_the_email(self):
        services.login(email="USER@Example.com", password=PASSWORD, now=NOW)

    def test_login_stores_the_refresh_token_digest_and_never_the_token(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        row = stored(pair.refresh_token)
        self.assertNotIn(pair.refresh_token, {row.digest, str(row.family)})
        self.assertEqual(row.digest, tokens.refresh_token_digest(pair.refresh_token))

    def test_login_records_last_login(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.user.refresh_from_db()
        self.assertEqual(self.user.last_login, NOW)

    @override_config(ACCESS_TOKEN_LIFETIME=90, REFRESH_TOKEN_LIFETIME=timedelta(days=2))
    def test_login_uses_the_lifetimes_in_constance_at_call_time(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        claims = tokens.decode_access_token(pair.access_token, now=NOW)
        self.assertEqual(claims.expires_at - claims.issued_at, timedelta(seconds=90))
        self.assertEqual(stored(pair.refresh_token).expires_at, NOW + timedelta(days=2))

    def test_login_refuses_wrong_password_unknown_email_and_inactive_user(self):
        make_user(email="gone@example.com", is_active=False)
        cases = {
            "wrong password": ("user@example.com", "wrong-password-123"),
            "unknown email": ("nobody@example.com", PASSWORD),
            "inactive user": ("gone@example.com", PASSWORD),
        }
        for label, (email, password) in cases.items():
            with self.subTest(label), self.assertRaises(InvalidCredentials):
                services.login(email=email, password=password, now=NOW)
        self.assertFalse(RefreshToken.objects.exists())

    @override_settings(LOGIN_THROTTLE={"window_seconds": 300, "per_email": 3, "per_address": 5})
    def test_failed_logins_past_the_limit_for_an_email_are_throttled_until_the_window_ends(self):
        for _ in range(3):
            with self.assertRaises(InvalidCredentials):
                services.login(email="user@example.com", password="wrong", now=NOW)
        with self.assertRaises(LoginThrottled) as caught:
            services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.assertEqual(caught.exception.retry_after, 300 - int(NOW.timestamp()) % 300)
        services.login(
            email="user@example.com", password=PASSWORD, now=NOW + timedelta(seconds=300)
        )

    @override_settings(LOGIN_THROTTLE={"window_seconds": 300, "per_email": 3, "per_address": 5})
    def test_failed_logins_past_the_limit_for_an_address_are_throttled_for_every_email(self):
        for number in range(5):
            with self.assertRaises(InvalidCredentials):
                services.login(
                    email=f"guess{number}@example.com", password="x", address="10.0.0.9", now=NOW
                )
        with self.assertRaises(LoginThrottled):
            services.login(email="user@example.com", password=PASSWORD, address="10.0.0.9", now=NOW)
        services.login(email="user@example.com", password=PASSWORD, address="10.0.0.1", now=NOW)


class RotateTests(TestCase):
    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_rotate_returns_a_new_pair_in_the_same_family_and_uses_up_the_old_token(self):
        later = NOW + timedelta(minutes=5)
        new = services.rotate(refresh_token=self.pair.refresh_token, now=later)
        old_row, new_row = stored(self.pair.refresh_token), stored(new.refresh_token)
        self.assertNotEqual(new.refresh_token, self.pair.refresh_token)
        self.assertEqual(old_row.used_at, later)
        self.assertEqual(new_row.family, old_row.family)
        self.assertEqual(new_row.expires_at, later + timedelta(days=30))
        claims = tokens.decode_access_token(new.access_token, now=later)
        self.assertEqual(claims.issued_at, later)

    def test_rotate_after_expiry_raises_expired_and_keeps_the_token_unused(self):
        with self.assertRaises(RefreshTokenExpired):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW + timedelta(days=30))
        self.assertIsNone(stored(self.pair.refresh_token).used_at)
        self.assertEqual(RefreshToken.objects.count(), 1)

    def test_rotate_just_before_expiry_succeeds(self):
        almost = NOW + timedelta(days=30) - timedelta(seconds=1)
        services.rotate(refresh_token=self.pair.refresh_token, now=almost)

    def test_reusing_a_used_token_revokes_the_whole_family(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertIsNotNone(stored(new.refresh_token).revoked_at)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=new.refresh_token, now=NOW)

    def test_reuse_leaves_other_sessions_of_the_user_alone(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        services.rotate(refresh_token=other.refresh_token, now=NOW)

    def test_rotate_refuses_unknown_and_revoked_tokens(self):
        services.revoke(refresh_token=self.pair.refresh_token, now=NOW)
        for token in (tokens.new_refresh_token(), self.pair.refresh_token):
            with self.subTest(token=token), self.assertRaises(InvalidRefreshToken):
                services.rotate(refresh_token=token, now=NOW)

    def test_rotate_refuses_the_token_of_an_inactive_user(self):
        User.objects.filter(pk=self.user.pk).update(is_active=False)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertIsNone(stored(self.pair.refresh_token).used_at)

    @override_config(REFRESH_TOKEN_LIFETIME=timedelta(hours=1))
    def test_rotate_starts_the_new_refresh_lifetime_from_constance(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertEqual(stored(new.refresh_token).expires_at, NOW + timedelta(hours=1))


class RevokeTests(TestCase):
    def setUp(self):
        make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_revoke_revokes_every_token_of_the_family(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        services.revoke(refresh_token=new.refresh_token, now=NOW)
        self.assertFalse(RefreshToken.objects.filter(revoked_at=None).exists())

    def test_revoke_of_an_unknown_token_changes_nothing(self):
        services.revoke(refresh_token=tokens.new_refresh_token(), now=NOW)
        self.assertIsNone(stored(self.pair.refresh_token).revoked_at)

    def test_revoke_tokens_revokes_the_families_of_the_given_rows(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        revoked = services.revoke_tokens(token_ids=[stored(self.pair.refresh_token).pk], now=NOW)
        self.assertEqual(revoked, 1)
        self.assertIsNone(stored(other.refresh_token).revoked_at)


class ProfileTests(TestCase):
    def setUp(self):
        self.user = make_user()

    def test_get_profile_loads_the_user_in_one_query(self):
        with self.assertNumQueries(1):
            user = services.get_profile(user_id=self.user.pk)
        self.assertEqual((user.email, user.username), ("user@example.com", ""))

    def test_get_profile_of_an_inactive_or_deleted_user_raises_invalid_access_token(self):
        inactive = make_user(email="gone@example.com", is_active=False)
        for user_id in (inactive.pk, 10**9):
            with self.subTest(user_id=user_id), self.assertRaises(InvalidAccessToken):
                services.get_profile(user_id=user_id)

    def test_update_profile_changes_only_the_given_fields(self):
        services.update_profile(user_id=self.user.pk, username="John Smith")
        self.user.refresh_from_db()
        self.assertEqual((self.user.username, self.user.email), ("John Smith", "user@example.com"))

    def test_update_profile_to_an_email_taken_in_another_case_raises_email_taken(self):
        make_user(email="taken@example.com")
        with self.assertRaises(EmailTaken):
            services.update_profile(user_id=self.user.pk, email="TAKEN@example.com")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")

    def test_update_profile_may_change_the_case_of_the_users_own_email(self):
        user = services.update_profile(user_id=self.user.pk, email="User@example.com")
        self.assertEqual(user.email, "User@example.com")


class PurgeTests(TestCase):
    def test_purge_deletes_expired_and_long_revoked_or_used_tokens_only(self):
        make_user()
        retention = settings.REFRESH_TOKEN_RETENTION
        long_ago = NOW - retention - timedelta(days=1)
        services.login(email="user@example.com", password=PASSWORD, now=NOW - timedelta(days=31))
        old_revoked = services.login(email="user@example.com", password=PASSWORD, now=long_ago)
        services.revoke(refresh_token=old_revoked.refresh_token, now=long_ago)
        recent_revoked = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        services.revoke(refresh_token=recent_revoked.refresh_token, now=NOW)
        used = services.login(email="user@example.com", password=PASSWORD, now=long_ago)
        successor = services.rotate(refresh_token=used.refresh_token, now=long_ago)
        active = services.login(email="user@example.com", password=PASSWORD, now=NOW)

        self.assertEqual(services.purge_refresh_tokens(now=NOW), 3)
        remaining = set(RefreshToken.objects.values_list("digest", flat=True))
        expected = {recent_revoked.refresh_token, successor.refresh_token, active.refresh_token}
        self.assertEqual(remaining, {tokens.refresh_token_digest(each) for each in expected})


class RotateInterruptionTests(TransactionTestCase):
    """A refresh whose transaction is cut in the middle keeps nothing of what it began."""

    def setUp(self):
        make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def cut_connection(self, **kwargs):
        """Kill the database connection after the new row and the used-up mark are written."""
        if connection.vendor == "postgresql":
            pid = connection.connection.info.backend_pid
            killer = psycopg2.connect(**connection.get_connection_params())
            killer.autocommit = True
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            killer.close()
        else:
            connection.connection.close()
        return "token"

    def assert_nothing_was_kept(self):
        with contextlib.suppress(Exception):
            connection.close()
        connection.connection = None
        old = stored(self.pair.refresh_token)
        self.assertIsNone(old.used_at)
        self.assertEqual(RefreshToken.objects.count(), 1)
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)

    def test_connection_lost_before_commit_leaves_the_old_token_usable(self):
        with (
            mock.patch("app.accounts.tokens.issue_access_token", side_effect=self.cut_connection),
            self.assertRaises(DatabaseError),
        ):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assert_nothing_was_kept()

    def test_error_after_the_new_row_leaves_the_old_token_usable(self):
        with (
            mock.patch("app.accounts.tokens.issue_access_token", side_effect=RuntimeError("boom")),
            self.assertRaises(RuntimeError),
        ):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assert_nothing_was_kept()
