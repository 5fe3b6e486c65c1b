"""``app/accounts/services.py``: every write, with time passed in as ``now=``."""

import contextlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import psycopg2
from constance.test import override_config
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.test import TestCase, TransactionTestCase, override_settings

from app.accounts import selectors, services, throttling, tokens
from app.accounts.errors import (
    EmailChangeThrottled,
    EmailTaken,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidRefreshToken,
    LoginThrottled,
    ReauthenticationRequired,
    RefreshTokenExpired,
    RefreshTokenReused,
    RegistrationThrottled,
    SessionEnded,
    TooManyLogins,
    WrongPassword,
)
from app.accounts.models import AttemptCounter, RefreshToken, Session, User
from tests.accounts_tests.factories import PASSWORD, make_user

# 12:00:00, the start of a five-minute window; LATER is inside the same window.
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=40)
# Past the default reuse interval (10 s): a used token shown again is reuse, not a retry.
PAST_RETRIES = NOW + timedelta(seconds=11)
THROTTLE = {
    "window_seconds": 300,
    "per_pair": 3,
    "per_address": 5,
    "ceiling_window_seconds": 86400,
    "ceiling": 8,
    "successes": 4,
}


def stored(refresh_token):
    return RefreshToken.objects.select_related("session").get(
        digest=tokens.refresh_token_digest(refresh_token)
    )


class RegisterTests(TestCase):
    def test_register_creates_an_active_user_with_a_hashed_password(self):
        user = services.register(email="new@example.com", password=PASSWORD)
        self.assertTrue(user.is_active)
        self.assertNotEqual(user.password, PASSWORD)
        self.assertTrue(user.check_password(PASSWORD))

    def test_register_stores_the_canonical_email(self):
        user = services.register(email="New.User@BÜCHER.example", password=PASSWORD)
        self.assertEqual(user.email, "new.user@xn--bcher-kva.example")

    def test_register_with_an_email_taken_in_another_case_raises_email_taken(self):
        make_user(email="user@example.com")
        with self.assertRaises(EmailTaken):
            services.register(email="USER@example.com", password=PASSWORD)
        self.assertEqual(User.objects.count(), 1)

    @override_settings(REGISTER_THROTTLE={"window_seconds": 3600, "per_address": 2})
    def test_registrations_past_the_limit_for_an_address_are_refused_before_hashing(self):
        for number in range(2):
            services.register(
                email=f"u{number}@example.com",
                password=PASSWORD,
                address="2001:db8:1::1",
                now=NOW,
            )
        with (
            mock.patch.object(User, "set_password") as hashing,
            self.assertRaises(RegistrationThrottled) as caught,
        ):
            services.register(
                email="u9@example.com", password=PASSWORD, address="2001:db8:1::2", now=NOW
            )
        hashing.assert_not_called()
        self.assertEqual(caught.exception.retry_after, 3600)
        services.register(
            email="u9@example.com", password=PASSWORD, address="2001:db8:2::1", now=NOW
        )


class LoginTests(TestCase):
    def setUp(self):
        self.user = make_user()

    def test_login_returns_a_pair_for_the_user_in_a_new_session(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        claims = tokens.decode_access_token(pair.access_token, now=NOW)
        self.assertEqual(claims.user_id, self.user.pk)
        self.assertEqual(stored(pair.refresh_token).session.user, self.user)

    def test_login_records_the_client_of_the_session_bounded_and_printable(self):
        agent = "Mozilla/5.0\x00 " + "x" * 400
        pair = services.login(
            email="user@example.com", password=PASSWORD, address="203.0.113.7", user_agent=agent
        )
        session = stored(pair.refresh_token).session
        self.assertEqual(session.ip_address, "203.0.113.7")
        self.assertEqual(session.user_agent, ("Mozilla/5.0 " + "x" * 400)[:256])

    def test_a_client_address_with_an_ipv6_zone_is_recorded_without_it(self):
        pair = services.login(
            email="user@example.com", password=PASSWORD, address="fe80::1%eth0", now=NOW
        )
        self.assertEqual(stored(pair.refresh_token).session.ip_address, "fe80::1")

    @override_config(
        SESSION_LIFETIME=timedelta(days=9_999_999),
        REFRESH_TOKEN_LIFETIME=timedelta(days=9_999_999),
        ACCESS_TOKEN_LIFETIME=10**9,
    )
    def test_lifetimes_stored_past_their_bounds_are_held_to_them(self):
        # Written past the admin's form (its validators refuse these): still no 500.
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        session = stored(pair.refresh_token).session
        self.assertEqual(session.expires_at, NOW + timedelta(days=365))
        self.assertEqual(stored(pair.refresh_token).expires_at, NOW + timedelta(days=365))
        claims = tokens.decode_access_token(pair.access_token, now=NOW)
        self.assertEqual(claims.expires_at - claims.issued_at, timedelta(days=1))

    def test_login_ignores_the_case_of_the_email(self):
        pair = services.login(email="USER@Example.com", password=PASSWORD, now=NOW)
        self.assertEqual(
            tokens.decode_access_token(pair.access_token, now=NOW).user_id, self.user.pk
        )

    def test_login_stores_the_refresh_token_digest_and_never_the_token(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        row = stored(pair.refresh_token)
        self.assertNotIn(pair.refresh_token, {row.digest, str(row.session_id)})
        self.assertEqual(row.digest, tokens.refresh_token_digest(pair.refresh_token))

    def test_login_records_last_login(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.user.refresh_from_db()
        self.assertEqual(self.user.last_login, NOW)

    @override_config(
        ACCESS_TOKEN_LIFETIME=90,
        REFRESH_TOKEN_LIFETIME=timedelta(days=2),
        SESSION_LIFETIME=timedelta(days=7),
    )
    def test_login_uses_the_lifetimes_in_constance_at_call_time(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        claims = tokens.decode_access_token(pair.access_token, now=NOW)
        self.assertEqual(claims.expires_at - claims.issued_at, timedelta(seconds=90))
        self.assertEqual(stored(pair.refresh_token).expires_at, NOW + timedelta(days=2))
        self.assertEqual(stored(pair.refresh_token).session.expires_at, NOW + timedelta(days=7))

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
        self.assertFalse(Session.objects.exists())

    def test_a_password_change_or_deactivation_during_the_check_starts_no_session(self):
        # Another request changes the password (or deactivates the user) after this login
        # checked the old one and before its session is written: the session must not start,
        # or it would outlive the change that was meant to end every session.
        changes = {
            "new password": {"password": "argon2$another-hash"},
            "deactivated": {"is_active": False},
        }
        real_check = User.check_password
        for label, change in changes.items():
            with self.subTest(label):

                def check_then_change(user, raw, change=change):
                    result = real_check(user, raw)
                    User.objects.filter(pk=user.pk).update(**change)
                    return result

                with (
                    mock.patch.object(User, "check_password", check_then_change),
                    self.assertRaises(InvalidCredentials),
                ):
                    services.login(email="user@example.com", password=PASSWORD, now=NOW)
                self.assertFalse(Session.objects.exists())
                User.objects.filter(email="user@example.com").delete()
                make_user()


@override_settings(LOGIN_THROTTLE=THROTTLE)
class LoginThrottleTests(TestCase):
    def setUp(self):
        make_user()

    def fail(self, email="user@example.com", address=None, now=NOW):
        with self.assertRaises(InvalidCredentials):
            services.login(email=email, password="wrong", address=address, now=now)

    def test_failures_spread_over_one_window_add_up_and_retry_after_is_its_end(self):
        for offset in (10, 100, 250):
            self.fail(now=NOW + timedelta(seconds=offset))
        with self.assertRaises(LoginThrottled) as caught:
            services.login(
                email="user@example.com", password=PASSWORD, now=NOW + timedelta(seconds=290)
            )
        self.assertEqual(caught.exception.retry_after, 10)
        services.login(
            email="user@example.com", password=PASSWORD, now=NOW + timedelta(seconds=300)
        )

    def test_the_count_per_email_ignores_how_the_email_is_typed(self):
        for email in ("USER@example.com", "user@EXAMPLE.COM", "ＵＳＥＲ@example.com"):
            self.fail(email=email)
        with self.assertRaises(LoginThrottled):
            services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_a_throttled_login_never_checks_the_password(self):
        for _ in range(3):
            self.fail()
        with (
            mock.patch.object(User, "check_password") as check,
            mock.patch.object(User, "set_password") as hash_anyway,
            self.assertRaises(LoginThrottled),
        ):
            services.login(email="user@example.com", password=PASSWORD, now=NOW)
        check.assert_not_called()
        hash_anyway.assert_not_called()

    def test_a_success_neither_resets_the_count_nor_adds_to_it(self):
        self.fail()
        self.fail()
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.fail()
        with self.assertRaises(LoginThrottled):
            services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_failures_past_the_limit_for_an_address_throttle_every_email_from_it(self):
        for number in range(5):
            self.fail(email=f"guess{number}@example.com", address="192.0.2.9")
        with self.assertRaises(LoginThrottled):
            services.login(
                email="user@example.com", password=PASSWORD, address="192.0.2.9", now=NOW
            )
        services.login(email="user@example.com", password=PASSWORD, address="192.0.2.1", now=NOW)

    def test_requests_refused_for_their_address_spend_nothing_of_the_emails_budget(self):
        # One address over its own limit sends the victim's e-mail again and again: no
        # password is checked, so the victim's right password from elsewhere still works.
        for number in range(5):
            self.fail(email=f"guess{number}@example.com", address="192.0.2.66")
        for _ in range(50):
            with self.assertRaises(LoginThrottled):
                services.login(
                    email="user@example.com", password="wrong", address="192.0.2.66", now=NOW
                )
        services.login(email="user@example.com", password=PASSWORD, address="192.0.2.1", now=NOW)

    def test_wrong_passwords_for_one_email_lock_only_that_address_out_of_it(self):
        for _ in range(3):
            self.fail(address="192.0.2.66")
        with self.assertRaises(LoginThrottled):
            services.login(
                email="user@example.com", password=PASSWORD, address="192.0.2.66", now=NOW
            )
        services.login(email="user@example.com", password=PASSWORD, address="192.0.2.1", now=NOW)

    def test_wrong_passwords_from_many_addresses_stop_at_the_emails_ceiling(self):
        for number in range(8):
            self.fail(address=f"198.51.100.{number}")
        with (
            mock.patch.object(User, "check_password") as check,
            self.assertRaises(LoginThrottled) as caught,
        ):
            services.login(
                email="user@example.com", password=PASSWORD, address="198.51.100.99", now=NOW
            )
        check.assert_not_called()
        # The ceiling's window is the long one: a day from midnight.
        self.assertEqual(caught.exception.retry_after, 12 * 3600)

    def test_successful_logins_past_their_limit_are_refused_before_hashing(self):
        # From one address, then from another: the e-mail's own limit refuses the fifth.
        for _ in range(4):
            services.login(
                email="user@example.com", password=PASSWORD, address="2001:db8:1::1", now=NOW
            )
        with (
            mock.patch.object(User, "check_password") as check,
            self.assertRaises(TooManyLogins),
        ):
            services.login(
                email="user@example.com", password=PASSWORD, address="2001:db8:2::1", now=NOW
            )
        check.assert_not_called()

    def test_a_wrong_password_spends_nothing_of_the_success_budget(self):
        self.fail(address="::1")
        self.fail(address="::1")
        for _ in range(4):
            services.login(email="user@example.com", password=PASSWORD, address="::1", now=NOW)

    def test_lifting_an_email_forgets_its_wrong_passwords_from_every_address(self):
        for number in range(8):
            self.fail(address=f"198.51.100.{number % 4}")
        with self.assertRaises(LoginThrottled):
            services.login(
                email="user@example.com", password=PASSWORD, address="198.51.100.0", now=NOW
            )
        throttling.lift_email(email="user@example.com")
        services.login(email="user@example.com", password=PASSWORD, address="198.51.100.0", now=NOW)

    def test_the_addresses_of_one_ipv6_64_count_as_one_address(self):
        # An IPv6 subscriber holds a /64 at least: a new address of it is no new budget.
        for host in range(3):
            self.fail(address=f"2001:db8:0:1::{host + 1:x}")
        with self.assertRaises(LoginThrottled):
            services.login(
                email="user@example.com", password=PASSWORD, address="2001:db8:0:1::99", now=NOW
            )
        services.login(
            email="user@example.com", password=PASSWORD, address="2001:db8:0:2::1", now=NOW
        )

    def test_the_lock_on_an_email_survives_failures_for_a_thousand_other_emails(self):
        for _ in range(3):
            self.fail()
        for number in range(1000):
            with contextlib.suppress(LoginThrottled):
                throttling.count_login(email=f"other{number}@example.com", address=None, now=NOW)
        with self.assertRaises(LoginThrottled):
            services.login(email="user@example.com", password=PASSWORD, now=NOW)


class HashUpgradeTests(TestCase):
    """Django rehashes a password whose hasher or parameters changed: the same password, so
    the user's sessions go on."""

    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_a_hash_upgrade_at_login_keeps_the_users_other_sessions(self):
        old_hash = User.objects.get().password
        with mock.patch.object(MD5PasswordHasher, "must_update", return_value=True):
            services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.assertNotEqual(User.objects.get().password, old_hash)
        services.rotate(refresh_token=self.pair.refresh_token, now=LATER)

    def test_an_email_change_with_the_password_during_a_hash_upgrade_keeps_its_session(self):
        claims = tokens.decode_access_token(self.pair.access_token, now=NOW)
        with mock.patch.object(MD5PasswordHasher, "must_update", return_value=True):
            services.update_profile(
                user_id=self.user.pk,
                session_id=claims.session_id,
                authenticated_at=NOW - timedelta(hours=1),
                email="new@example.com",
                current_password=PASSWORD,
                now=NOW,
            )
        services.rotate(refresh_token=self.pair.refresh_token, now=LATER)


class RotateTests(TestCase):
    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_rotate_returns_a_new_pair_in_the_same_session_and_uses_up_the_old_token(self):
        later = NOW + timedelta(minutes=5)
        new = services.rotate(refresh_token=self.pair.refresh_token, now=later)
        old_row, new_row = stored(self.pair.refresh_token), stored(new.refresh_token)
        self.assertNotEqual(new.refresh_token, self.pair.refresh_token)
        self.assertEqual(old_row.used_at, later)
        self.assertEqual(new_row.session_id, old_row.session_id)
        self.assertEqual(new_row.expires_at, later + timedelta(days=30))
        claims = tokens.decode_access_token(new.access_token, now=later)
        self.assertEqual(claims.issued_at, later)

    def test_rotate_records_when_and_from_where_the_session_was_last_used(self):
        later = NOW + timedelta(minutes=5)
        new = services.rotate(
            refresh_token=self.pair.refresh_token,
            address="2001:db8::1",
            user_agent="curl/8",
            now=later,
        )
        session = stored(new.refresh_token).session
        self.assertEqual(
            (session.last_used_at, session.ip_address, session.user_agent),
            (later, "2001:db8::1", "curl/8"),
        )

    def test_rotate_after_expiry_raises_expired_and_keeps_the_token_unused(self):
        with self.assertRaises(RefreshTokenExpired):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW + timedelta(days=30))
        self.assertIsNone(stored(self.pair.refresh_token).used_at)
        self.assertEqual(RefreshToken.objects.count(), 1)

    def test_rotate_just_before_expiry_succeeds(self):
        almost = NOW + timedelta(days=30) - timedelta(seconds=1)
        new = services.rotate(refresh_token=self.pair.refresh_token, now=almost)
        self.assertEqual(stored(new.refresh_token).expires_at, almost + timedelta(days=30))

    @override_config(SESSION_LIFETIME=timedelta(days=1), REFRESH_TOKEN_LIFETIME=timedelta(hours=20))
    def test_refreshes_never_extend_a_session_past_its_absolute_lifetime(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        later = services.rotate(refresh_token=pair.refresh_token, now=NOW + timedelta(hours=12))
        self.assertEqual(stored(later.refresh_token).expires_at, NOW + timedelta(days=1))
        with self.assertRaises(RefreshTokenExpired):
            services.rotate(refresh_token=later.refresh_token, now=NOW + timedelta(days=1))

    def test_reusing_a_used_token_ends_the_session_and_its_successor_stops_working(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=PAST_RETRIES)
        self.assertIsNotNone(stored(new.refresh_token).session.revoked_at)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=new.refresh_token, now=PAST_RETRIES)

    def test_reuse_leaves_other_sessions_of_the_user_alone(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=PAST_RETRIES)
        services.rotate(refresh_token=other.refresh_token, now=PAST_RETRIES)

    def test_a_token_shown_again_within_the_reuse_interval_gets_the_same_successor(self):
        first = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        retry = services.rotate(
            refresh_token=self.pair.refresh_token, now=NOW + timedelta(seconds=10)
        )
        self.assertEqual(retry.refresh_token, first.refresh_token)
        self.assertNotEqual(retry.access_token, first.access_token)
        self.assertEqual(
            tokens.decode_access_token(retry.access_token, now=LATER).user_id, self.user.pk
        )
        # One chain: the session goes on from the one successor, and nothing else was issued.
        self.assertEqual(RefreshToken.objects.count(), 2)
        services.rotate(refresh_token=retry.refresh_token, now=LATER)

    def test_a_retry_once_the_successor_was_used_is_reuse(self):
        first = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        services.rotate(refresh_token=first.refresh_token, now=NOW + timedelta(seconds=1))
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW + timedelta(seconds=2))
        self.assertIsNotNone(Session.objects.get().revoked_at)

    def test_the_seal_of_a_used_successor_is_erased(self):
        first = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertNotEqual(stored(self.pair.refresh_token).successor_seal, "")
        services.rotate(refresh_token=first.refresh_token, now=NOW + timedelta(seconds=1))
        self.assertEqual(stored(self.pair.refresh_token).successor_seal, "")

    @override_config(REFRESH_REUSE_INTERVAL=0)
    def test_a_reuse_interval_of_zero_makes_every_second_use_reuse(self):
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertEqual(stored(self.pair.refresh_token).successor_seal, "")
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)

    def test_a_retry_whose_successor_a_password_change_replaced_is_refused_and_ends_nothing(
        self,
    ):
        first = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        claims = tokens.decode_access_token(first.access_token, now=NOW)
        changed = services.change_password(
            user_id=self.user.pk,
            session_id=claims.session_id,
            current_password=PASSWORD,
            new_password="a-completely-new-phrase-42",
            now=NOW,
        )
        with self.assertRaises(InvalidRefreshToken) as caught:
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW + timedelta(seconds=1))
        self.assertNotIsInstance(caught.exception, RefreshTokenReused)
        self.assertIsNone(Session.objects.get().revoked_at)
        services.rotate(refresh_token=changed.refresh_token, now=NOW + timedelta(seconds=2))

    def test_a_retry_of_a_token_whose_session_ended_is_refused(self):
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        services.log_out(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW + timedelta(seconds=1))

    def test_after_a_retry_no_column_of_the_database_holds_a_usable_token(self):
        first = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        retry = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        issued = {self.pair.refresh_token, first.refresh_token, retry.refresh_token}
        forms = {form for token in issued for form in (token, uuid.UUID(token).hex)}
        for model in (User, Session, RefreshToken, AttemptCounter):
            for row in model.objects.values():
                for column, value in row.items():
                    with self.subTest(table=model.__name__, column=column):
                        self.assertFalse(
                            any(form in str(value).lower() for form in forms), (column, value)
                        )

    def test_a_password_set_by_a_queryset_update_ends_every_session_at_its_next_refresh(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        User.objects.filter(pk=self.user.pk).update(password=make_password("another-phrase-7"))
        for pair in (self.pair, other):
            with self.subTest(pair=pair), self.assertRaises(InvalidRefreshToken):
                services.rotate(refresh_token=pair.refresh_token, now=LATER)
        self.assertFalse(Session.objects.filter(revoked_at=None).exists())

    def test_every_way_a_password_changes_ends_the_sessions_started_before_it(self):
        def by_save(user):
            user.set_password("another-phrase-7")
            user.save()

        def by_command(user):
            with mock.patch("getpass.getpass", return_value="another-phrase-7"):
                call_command("changepassword", user.email, stdout=io.StringIO())

        def disabled(user):
            user.set_unusable_password()
            user.save()

        for label, change in {
            "save()": by_save,
            "changepassword": by_command,
            "unusable": disabled,
        }.items():
            with self.subTest(label):
                pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
                change(User.objects.get(pk=self.user.pk))
                with self.assertRaises(InvalidRefreshToken):
                    services.rotate(refresh_token=pair.refresh_token, now=LATER)
                User.objects.filter(pk=self.user.pk).update(password=make_password(PASSWORD))

    def test_a_rehash_of_the_same_password_to_the_current_stamp_keeps_the_session(self):
        # Refreshing with a stamp made under a fallback secret key re-stamps the session.
        with override_settings(SECRET_KEY="o" * 50):
            pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        with override_settings(SECRET_KEY_FALLBACKS=["o" * 50]):
            renewed = services.rotate(refresh_token=pair.refresh_token, now=LATER)
        services.rotate(refresh_token=renewed.refresh_token, now=LATER + timedelta(seconds=30))

    def test_rotate_refuses_unknown_and_logged_out_tokens(self):
        services.log_out(refresh_token=self.pair.refresh_token, now=NOW)
        for token in (tokens.new_refresh_token(), self.pair.refresh_token):
            with self.subTest(token=token), self.assertRaises(InvalidRefreshToken):
                services.rotate(refresh_token=token, now=NOW)

    def test_rotate_for_a_user_deactivated_behind_the_models_back_ends_the_session(self):
        User.objects.filter(pk=self.user.pk).update(is_active=False)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        User.objects.filter(pk=self.user.pk).update(is_active=True)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)

    @override_config(REFRESH_TOKEN_LIFETIME=timedelta(hours=1))
    def test_rotate_starts_the_new_refresh_lifetime_from_constance(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertEqual(stored(new.refresh_token).expires_at, NOW + timedelta(hours=1))

    def test_a_token_claimed_by_another_rotation_after_it_was_read_is_reuse(self):
        # What the row lock prevents, simulated: between rotate()'s read and its update,
        # a concurrent rotation marks the token used. The compare-and-set must notice.
        digest = tokens.refresh_token_digest(self.pair.refresh_token)

        def claim_after_the_read(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if sql.lstrip().upper().startswith("SELECT") and '"digest" =' in sql:
                RefreshToken.objects.filter(digest=digest).update(used_at=NOW)
            return result

        with (
            connection.execute_wrapper(claim_after_the_read),
            self.assertRaises(RefreshTokenReused),
        ):
            services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        self.assertEqual(RefreshToken.objects.count(), 1)


class EndSessionTests(TestCase):
    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)

    def test_log_out_ends_the_session_even_with_a_used_token_of_it(self):
        new = services.rotate(refresh_token=self.pair.refresh_token, now=NOW)
        services.log_out(refresh_token=self.pair.refresh_token, now=NOW)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=new.refresh_token, now=NOW)

    def test_log_out_of_an_unknown_token_changes_nothing(self):
        services.log_out(refresh_token=tokens.new_refresh_token(), now=NOW)
        self.assertIsNone(Session.objects.get().revoked_at)

    def test_end_sessions_ends_only_the_given_sessions(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        session = stored(self.pair.refresh_token).session
        self.assertEqual(services.end_sessions(session_ids=[session.pk], now=NOW), 1)
        self.assertEqual(services.end_sessions(session_ids=[session.pk], now=NOW), 0)
        services.rotate(refresh_token=other.refresh_token, now=NOW)

    def test_deactivating_a_user_ends_every_session_and_reactivating_revives_none(self):
        other = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.user.is_active = False
        self.user.save()
        self.user.is_active = True
        self.user.save()
        for pair in (self.pair, other):
            with self.subTest(pair=pair), self.assertRaises(InvalidRefreshToken):
                services.rotate(refresh_token=pair.refresh_token, now=NOW)


class ProfileTests(TestCase):
    def setUp(self):
        self.user = make_user()

    def test_get_profile_loads_the_user_in_one_query(self):
        with self.assertNumQueries(1):
            user = selectors.get_profile(user_id=self.user.pk)
        self.assertEqual((user.email, user.username), ("user@example.com", ""))

    def test_get_profile_of_an_inactive_or_deleted_user_raises_invalid_access_token(self):
        inactive = make_user(email="gone@example.com", is_active=False)
        for user_id in (inactive.pk, 10**9):
            with self.subTest(user_id=user_id), self.assertRaises(InvalidAccessToken):
                selectors.get_profile(user_id=user_id)

    def test_update_profile_changes_only_the_given_fields(self):
        services.update_profile(user_id=self.user.pk, username="John Smith")
        self.user.refresh_from_db()
        self.assertEqual((self.user.username, self.user.email), ("John Smith", "user@example.com"))

    def test_update_profile_of_a_deactivated_user_raises_invalid_access_token(self):
        User.objects.filter(pk=self.user.pk).update(is_active=False)
        with self.assertRaises(InvalidAccessToken):
            services.update_profile(user_id=self.user.pk, username="John Smith")
        self.user.refresh_from_db()
        self.assertEqual(self.user.username, "")

    def change_email(self, email, *, authenticated_at=NOW, now=NOW, **extra):
        session = Session.objects.get()
        return services.update_profile(
            user_id=self.user.pk,
            session_id=str(session.pk),
            authenticated_at=authenticated_at,
            email=email,
            now=now,
            **extra,
        )

    def test_update_profile_to_an_email_taken_in_another_spelling_raises_email_taken(self):
        make_user(email="taken@example.com")
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        with self.assertRaises(EmailTaken):
            self.change_email("TAKEN@ｅｘａｍｐｌｅ.com")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")

    def test_update_profile_stores_the_canonical_email(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        user = self.change_email("New@Example.COM")
        self.assertEqual(user.email, "new@example.com")

    def test_an_email_change_long_after_the_password_check_needs_the_password(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        later = NOW + timedelta(minutes=10, seconds=1)
        with self.assertRaises(ReauthenticationRequired) as caught:
            self.change_email("new@example.com", now=later)
        self.assertEqual(caught.exception.max_age, 600)
        with self.assertRaises(WrongPassword):
            self.change_email("new@example.com", now=later, current_password="wrong")
        user = self.change_email("new@example.com", now=later, current_password=PASSWORD)
        self.assertEqual(user.email, "new@example.com")
        # The password was checked now: the session's next tokens say so.
        self.assertEqual(Session.objects.get().authenticated_at, later)

    def test_an_email_change_within_the_window_needs_no_password(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        user = self.change_email("new@example.com", now=NOW + timedelta(minutes=10))
        self.assertEqual(user.email, "new@example.com")

    def test_an_email_change_from_an_ended_session_is_refused(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        services.log_out(refresh_token=pair.refresh_token, now=NOW)
        with self.assertRaises(SessionEnded):
            self.change_email("new@example.com")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")

    def test_a_session_ended_while_the_change_is_under_way_changes_nothing(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        real = throttling.count_email_change

        def then_the_owner_logs_out_everywhere(**kwargs):
            Session.objects.end(NOW)
            return real(**kwargs)

        with (
            mock.patch.object(throttling, "count_email_change", then_the_owner_logs_out_everywhere),
            self.assertRaises(SessionEnded),
        ):
            self.change_email("thief@example.com")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")

    @override_settings(
        EMAIL_CHANGE_THROTTLE={"window_seconds": 3600, "per_user": 2, "per_address": 100}
    )
    def test_a_change_refused_by_the_step_up_spends_nothing_of_the_change_budget(self):
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        for _ in range(3):
            with self.assertRaises(ReauthenticationRequired):
                self.change_email("new@example.com", now=NOW + timedelta(hours=1))
        user = self.change_email(
            "new@example.com", now=NOW + timedelta(hours=1), current_password=PASSWORD
        )
        self.assertEqual(user.email, "new@example.com")

    @override_settings(
        EMAIL_CHANGE_THROTTLE={"window_seconds": 3600, "per_user": 3, "per_address": 100}
    )
    def test_email_changes_past_the_limit_are_refused_before_the_taken_check(self):
        make_user(email="taken@example.com")
        services.login(email="user@example.com", password=PASSWORD, now=NOW)
        for _ in range(3):
            with self.assertRaises(EmailTaken):
                self.change_email("taken@example.com")
        with self.assertRaises(EmailChangeThrottled):
            self.change_email("taken@example.com")


class PasswordChangeTests(TestCase):
    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        self.claims = tokens.decode_access_token(self.pair.access_token, now=NOW)

    def test_a_reset_that_lands_while_a_change_is_under_way_wins(self):
        # Staff set a new password to shut out whoever knows the old one, while a change made
        # with the old one is past its check: the change must not overwrite the reset.
        real = password_validation.validate_password

        def then_staff_reset_it(password, user=None, password_validators=None):
            User.objects.filter(pk=self.user.pk).update(password=make_password("staff-choice-1"))
            return real(password, user, password_validators)

        with (
            mock.patch.object(password_validation, "validate_password", then_staff_reset_it),
            self.assertRaises(SessionEnded),
        ):
            services.change_password(
                user_id=self.user.pk,
                session_id=self.claims.session_id,
                current_password=PASSWORD,
                new_password="thief-choice-99",
                now=NOW,
            )
        self.assertTrue(User.objects.get().check_password("staff-choice-1"))
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token, now=LATER)


class PurgeTests(TestCase):
    def setUp(self):
        make_user()

    def test_purge_deletes_expired_tokens_and_sessions_left_without_one(self):
        expired = services.login(
            email="user@example.com", password=PASSWORD, now=NOW - timedelta(days=31)
        )
        soon = services.login(
            email="user@example.com", password=PASSWORD, now=NOW - timedelta(days=30, seconds=-60)
        )
        deleted = services.purge(now=NOW)
        self.assertEqual((deleted["refresh_tokens"], deleted["sessions"]), (1, 1))
        self.assertFalse(
            RefreshToken.objects.filter(
                digest=tokens.refresh_token_digest(expired.refresh_token)
            ).exists()
        )
        services.rotate(refresh_token=soon.refresh_token, now=NOW)

    def test_reuse_of_a_used_token_is_still_detected_after_a_purge(self):
        used = services.login(
            email="user@example.com", password=PASSWORD, now=NOW - timedelta(days=20)
        )
        successor = services.rotate(refresh_token=used.refresh_token, now=NOW - timedelta(days=19))
        services.purge(now=NOW)
        with self.assertRaises(RefreshTokenReused):
            services.rotate(refresh_token=used.refresh_token, now=NOW)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=successor.refresh_token, now=NOW)

    @override_settings(LOGIN_THROTTLE=THROTTLE)
    def test_purge_deletes_attempt_counters_of_ended_windows_only(self):
        throttling.count_registration(address="::1", now=NOW - timedelta(hours=1))
        throttling.count_registration(address="::1", now=NOW)
        self.assertEqual(services.purge(now=NOW)["attempt_counters"], 1)
        self.assertEqual(AttemptCounter.objects.get().count, 1)

    def test_purge_erases_the_seals_of_tokens_used_longer_ago_than_the_reuse_interval(self):
        pair = services.login(email="user@example.com", password=PASSWORD, now=NOW)
        services.rotate(refresh_token=pair.refresh_token, now=NOW)
        self.assertEqual(services.purge(now=NOW + timedelta(seconds=5))["successor_seals"], 0)
        self.assertEqual(services.purge(now=PAST_RETRIES)["successor_seals"], 1)
        self.assertFalse(RefreshToken.objects.exclude(successor_seal="").exists())


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
        self.assertEqual(Session.objects.get().last_used_at, NOW)
        services.rotate(refresh_token=self.pair.refresh_token, now=NOW)

    def test_connection_lost_before_commit_leaves_the_old_token_usable(self):
        with (
            mock.patch("app.accounts.tokens.issue_access_token", side_effect=self.cut_connection),
            self.assertRaises(DatabaseError),
        ):
            services.rotate(refresh_token=self.pair.refresh_token, now=LATER)
        self.assert_nothing_was_kept()

    def test_error_after_the_new_row_leaves_the_old_token_usable(self):
        with (
            mock.patch("app.accounts.tokens.issue_access_token", side_effect=RuntimeError("boom")),
            self.assertRaises(RuntimeError),
        ):
            services.rotate(refresh_token=self.pair.refresh_token, now=LATER)
        self.assert_nothing_was_kept()
