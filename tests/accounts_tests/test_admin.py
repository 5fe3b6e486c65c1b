"""``app/accounts/admin.py`` and the Constance page: what staff see and can do."""

from datetime import timedelta

import jwt
from constance import config
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test import TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from app.accounts import events, services, tokens
from app.accounts.errors import InvalidCredentials, InvalidRefreshToken, LoginThrottled
from app.accounts.models import Session, User
from tests.accounts_tests.factories import PASSWORD, login_throttle, make_user


def log_in_staff(client, *codenames: str) -> None:
    """Log ``client`` in as staff holding only the accounts permissions ``codenames``."""
    staff = make_user(email="staff@example.com", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
    )
    client.force_login(staff)


class AdminTests(TestCase):
    def setUp(self):
        self.admin = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        self.client.force_login(self.admin)

    def test_admin_login_page_works_with_the_email(self):
        self.client.logout()
        response = self.client.post(
            reverse("admin:login"),
            {"username": "admin@example.com", "password": PASSWORD, "next": "/admin/"},
        )
        self.assertRedirects(response, "/admin/")

    def test_user_list_is_searchable_by_email(self):
        make_user(email="findme@example.com")
        response = self.client.get(reverse("admin:accounts_user_changelist"), {"q": "findme"})
        self.assertContains(response, "findme@example.com")
        self.assertNotContains(response, "admin@example.com</a>")

    def test_add_user_form_creates_a_user_who_can_log_in(self):
        response = self.client.post(
            reverse("admin:accounts_user_add"),
            {
                "email": "staff@example.com",
                "usable_password": "true",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        self.assertEqual(response.status_code, 302, response.content[:2000])
        services.login(email="staff@example.com", password=PASSWORD)

    def test_add_user_form_refuses_an_email_taken_in_another_case(self):
        response = self.client.post(
            reverse("admin:accounts_user_add"),
            {
                "email": "ADMIN@example.com",
                "usable_password": "true",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
        self.assertContains(response, "already exists")
        self.assertEqual(User.objects.count(), 1)

    def test_session_list_shows_state_and_never_a_token_or_digest(self):
        pair = services.login(email="admin@example.com", password=PASSWORD)
        response = self.client.get(reverse("admin:accounts_session_changelist"))
        self.assertContains(response, "active")
        self.assertNotContains(response, tokens.refresh_token_digest(pair.refresh_token))
        self.assertNotContains(response, pair.refresh_token)

    def test_session_page_is_read_only_and_lists_its_tokens(self):
        services.login(email="admin@example.com", password=PASSWORD)
        session = Session.objects.get()
        url = reverse("admin:accounts_session_change", args=[session.pk])
        page = self.client.get(url)
        self.assertNotContains(page, 'name="_save"')
        self.assertContains(page, "Refresh tokens")
        self.assertEqual(self.client.post(url, {"revoked_at": ""}).status_code, 403)
        self.assertEqual(self.client.get(reverse("admin:accounts_session_add")).status_code, 403)

    def test_end_action_ends_the_selected_sessions_and_their_tokens_stop_working(self):
        pair = services.login(email="admin@example.com", password=PASSWORD)
        other = services.login(email="admin@example.com", password=PASSWORD)
        session = Session.objects.get(
            tokens__digest=tokens.refresh_token_digest(pair.refresh_token)
        )
        response = self.client.post(
            reverse("admin:accounts_session_changelist"),
            {"action": "end_sessions", "_selected_action": [session.pk]},
        )
        self.assertEqual(response.status_code, 302)
        session.refresh_from_db()
        self.assertEqual(session.state(), "revoked")
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=pair.refresh_token)
        services.rotate(refresh_token=other.refresh_token)

    def test_deactivating_a_user_on_the_user_page_ends_their_sessions_for_good(self):
        user = make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        url = reverse("admin:accounts_user_change", args=[user.pk])
        # "is_active" left out: the checkbox is cleared.
        data = {"email": user.email, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
        response = self.client.post(url, data)
        self.assertEqual(response.status_code, 302, response.content[:3000])
        User.objects.filter(pk=user.pk).update(is_active=True)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=pair.refresh_token)


class AdminPasswordTests(TestCase):
    def test_a_password_set_in_the_admin_ends_every_session_of_that_user(self):
        admin_user = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        self.client.force_login(admin_user)
        user = make_user()
        pairs = [services.login(email="user@example.com", password=PASSWORD) for _ in range(2)]
        response = self.client.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {
                "password1": "a-new-long-phrase-7",
                "password2": "a-new-long-phrase-7",
                "usable_password": "true",
            },
        )
        self.assertEqual(response.status_code, 302, response.content[:2000])
        for pair in pairs:
            with self.subTest(pair=pair.refresh_token), self.assertRaises(InvalidRefreshToken):
                services.rotate(refresh_token=pair.refresh_token)

    def test_disabling_password_login_in_the_admin_ends_every_session_of_that_user(self):
        admin_user = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        self.client.force_login(admin_user)
        user = make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        response = self.client.post(
            reverse("admin:auth_user_password_change", args=[user.pk]),
            {"usable_password": "false", "unset-password": "Disable password-based authentication"},
        )
        self.assertEqual(response.status_code, 302, response.content[:2000])
        user.refresh_from_db()
        self.assertFalse(user.has_usable_password())
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=pair.refresh_token)

    def test_saving_a_user_without_a_new_password_ends_no_session(self):
        user = make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        user.username = "Renamed"
        user.save()
        services.rotate(refresh_token=pair.refresh_token)


class LoginLockAdminTests(TestCase):
    def setUp(self):
        self.client.force_login(
            User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        )
        self.user = make_user()

    @override_settings(LOGIN_THROTTLE=login_throttle(ceiling=3))
    def test_staff_lift_the_lock_that_guesses_from_many_addresses_put_on_an_email(self):
        for number in range(3):
            with self.assertRaises(InvalidCredentials):
                services.login(
                    email="user@example.com", password="guess", address=f"198.51.100.{number}"
                )
        with self.assertRaises(LoginThrottled):
            services.login(email="user@example.com", password=PASSWORD, address="192.0.2.1")
        response = self.client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "lift_login_locks", "_selected_action": [self.user.pk]},
        )
        self.assertEqual(response.status_code, 302)
        services.login(email="user@example.com", password=PASSWORD, address="192.0.2.1")


class ConstanceAdminTests(TestCase):
    def setUp(self):
        self.admin = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        self.client.force_login(self.admin)
        self.url = reverse("admin:constance_config_changelist")

    def post_lifetimes(self, access, refresh):
        form = self.client.get(self.url).context["form"]
        data = {name: form[name].value() for name in form.fields}
        data.update(ACCESS_TOKEN_LIFETIME=access, REFRESH_TOKEN_LIFETIME=refresh)
        return self.client.post(self.url, data)

    def test_constance_page_lists_the_three_lifetimes_with_help(self):
        response = self.client.get(self.url)
        self.assertContains(response, "ACCESS_TOKEN_LIFETIME")
        self.assertContains(response, "REFRESH_TOKEN_LIFETIME")
        self.assertContains(response, "SESSION_LIFETIME")
        self.assertContains(response, "in seconds")

    def test_a_lifetime_saved_in_the_admin_applies_to_the_next_login(self):
        response = self.post_lifetimes(access="45", refresh="2 00:00:00")
        self.assertEqual(response.status_code, 302)
        self.assertEqual(config.ACCESS_TOKEN_LIFETIME, 45)
        login = self.client.post(
            reverse("login"),
            {"email": "admin@example.com", "password": PASSWORD},
            content_type="application/json",
        )
        claims = jwt.decode(login.json()["access_token"], options={"verify_signature": False})
        self.assertEqual(claims["exp"] - claims["iat"], 45)

    def test_lifetimes_past_their_maximums_are_refused(self):
        cases = {
            "access over a day": {"ACCESS_TOKEN_LIFETIME": "86401"},
            "refresh over a year": {"REFRESH_TOKEN_LIFETIME": "366 00:00:00"},
            "session over a year": {"SESSION_LIFETIME": "366 00:00:00"},
            "reuse interval over five minutes": {"REFRESH_REUSE_INTERVAL": "301"},
            "re-authentication window over a day": {"REAUTHENTICATION_WINDOW": "86401"},
        }
        for label, change in cases.items():
            with self.subTest(label):
                form = self.client.get(self.url).context["form"]
                data = {name: form[name].value() for name in form.fields}
                data.update(change)
                response = self.client.post(self.url, data)
                self.assertEqual(response.status_code, 200)
                self.assertTrue(response.context["form"].errors)
        self.assertEqual(config.SESSION_LIFETIME, timedelta(days=90))
        self.assertEqual(config.REFRESH_REUSE_INTERVAL, 10)

    def test_a_lifetime_below_one_second_is_refused(self):
        response = self.post_lifetimes(access="0", refresh="30 00:00:00")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(config.ACCESS_TOKEN_LIFETIME, 30)


class UserSessionsAdminTests(TestCase):
    def setUp(self):
        self.client.force_login(
            User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        )
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD)

    def test_the_user_page_lists_the_users_sessions_linked_to_their_pages(self):
        session = Session.objects.get(user=self.user)
        page = self.client.get(reverse("admin:accounts_user_change", args=[self.user.pk]))
        self.assertContains(page, reverse("admin:accounts_session_change", args=[session.pk]))
        self.assertNotContains(page, self.pair.refresh_token)

    def test_the_user_list_action_ends_every_session_of_the_selected_users(self):
        response = self.client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "end_all_sessions", "_selected_action": [self.user.pk]},
        )
        self.assertEqual(response.status_code, 302)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token)


class UserActionPermissionTests(TestCase):
    """The user list's action that ends sessions is a change: view-only staff cannot run it."""

    def setUp(self):
        self.user = make_user()
        self.pair = services.login(email="user@example.com", password=PASSWORD)
        self.url = reverse("admin:accounts_user_changelist")

    def log_in_staff(self, *codenames):
        log_in_staff(self.client, *codenames)

    def end_all_sessions(self):
        return self.client.post(
            self.url, {"action": "end_all_sessions", "_selected_action": [self.user.pk]}
        )

    def test_staff_who_may_only_view_users_are_not_offered_the_action_and_end_nothing(self):
        self.log_in_staff("view_user")
        page = self.client.get(self.url)
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'value="end_all_sessions"')
        self.end_all_sessions()
        self.assertEqual(Session.objects.get(user=self.user).state(), "active")
        services.rotate(refresh_token=self.pair.refresh_token)

    def test_staff_who_may_change_users_end_every_session_of_the_selected_users(self):
        self.log_in_staff("view_user", "change_user")
        self.assertContains(self.client.get(self.url), 'value="end_all_sessions"')
        self.assertEqual(self.end_all_sessions().status_code, 302)
        with self.assertRaises(InvalidRefreshToken):
            services.rotate(refresh_token=self.pair.refresh_token)


class MailAdminTests(TestCase):
    """Verification state on the user list and page; reset links sent by staff."""

    def setUp(self):
        self.verified = make_user(email="verified@example.com", email_verified_at=timezone.now())
        self.unverified = make_user(email="unverified@example.com", pending_email="new@example.com")
        self.url = reverse("admin:accounts_user_changelist")

    def log_in_staff(self, *codenames):
        log_in_staff(self.client, *codenames)

    def send_resets(self, *users):
        return self.client.post(
            self.url,
            {"action": "send_password_resets", "_selected_action": [user.pk for user in users]},
        )

    def test_the_user_list_filters_by_verification(self):
        self.log_in_staff("view_user")
        for value, shown, hidden in (
            ("0", "verified@example.com", "unverified@example.com"),
            ("1", "unverified@example.com", "verified@example.com"),
        ):
            with self.subTest(verified_at_isempty=value):
                page = self.client.get(self.url, {"email_verified_at__isempty": value})
                self.assertContains(page, f">{shown}<")
                self.assertNotContains(page, f">{hidden}<")

    def test_the_user_page_shows_the_verification_time_and_the_pending_email(self):
        self.log_in_staff("view_user")
        page = self.client.get(reverse("admin:accounts_user_change", args=[self.unverified.pk]))
        self.assertContains(page, "E-mail verified at")
        self.assertContains(page, "new@example.com")

    def test_staff_who_may_change_users_mail_each_selected_active_user_a_reset_link(self):
        gone = make_user(email="gone@example.com", is_active=False)
        self.log_in_staff("view_user", "change_user")
        mail.outbox.clear()
        self.assertEqual(self.send_resets(self.verified, gone).status_code, 302)
        (message,) = mail.outbox
        self.assertEqual(message.to, ["verified@example.com"])
        self.assertIn("http://testserver/password/reset/?token=", message.body)

    def test_staff_who_may_only_view_users_send_no_reset(self):
        self.log_in_staff("view_user")
        self.assertNotContains(self.client.get(self.url), 'value="send_password_resets"')
        mail.outbox.clear()
        self.send_resets(self.verified)
        self.assertEqual(mail.outbox, [])


class SecurityEventAdminTests(TestCase):
    """The events' list: filters that never load a whole table, bounded queries, and no way
    to add, change or delete an event, for superusers either."""

    def setUp(self):
        self.admin = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        self.client.force_login(self.admin)
        self.user = make_user()
        self.other = make_user(email="other@example.com")
        self.url = reverse("admin:accounts_securityevent_changelist")
        now = timezone.now()
        self.login = self.record(
            events.Name.LOGIN_SUCCESS, user_id=self.user.pk, address="203.0.113.7", now=now
        )
        self.failed = self.record(
            events.Name.LOGIN_FAIL,
            reason=events.Reason.UNKNOWN_ACCOUNT,
            email="typed@example.com",
            address="198.51.100.9",
            now=now,
        )
        self.ended = self.record(
            events.Name.SESSION_EXPIRED,
            user_id=self.other.pk,
            reason=events.Reason.LOGOUT,
            session_id="3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90",
            now=now - timedelta(days=40),
        )

    def record(self, name, **fields):
        (row,) = events.record([events.event(name, **fields)])
        return row

    def shown(self, **query) -> set[int]:
        response = self.client.get(self.url, query)
        self.assertEqual(response.status_code, 200)
        return {row.pk for row in response.context["cl"].result_list}

    def test_the_list_renders_its_columns_and_filters(self):
        response = self.client.get(self.url)
        for text in (
            "By event",
            "By reason",
            "By time",
            "typed@example.com",
            "198.51.100.9",
            "user@example.com",
            "3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90",
        ):
            with self.subTest(text):
                self.assertContains(response, text)

    def test_the_list_filters_by_event_reason_time_user_and_search(self):
        cases = {
            "event": ({"name__exact": "authn_login_fail"}, {self.failed.pk}),
            "reason": ({"reason": "logout"}, {self.ended.pk}),
            "past 7 days": (
                {"at__gte": str(timezone.now() - timedelta(days=7))},
                {self.login.pk, self.failed.pk},
            ),
            "user": ({"user": str(self.user.pk)}, {self.login.pk}),
            "address": ({"q": "203.0.113.7"}, {self.login.pk}),
            "session": ({"q": "3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90"}, {self.ended.pk}),
            "typed e-mail": ({"q": "typed@"}, {self.failed.pk}),
            "user's e-mail": ({"q": "other@example"}, {self.ended.pk}),
        }
        for label, (query, expected) in cases.items():
            with self.subTest(label):
                self.assertEqual(self.shown(**query), expected)

    def test_the_user_filter_names_the_chosen_user_and_refuses_what_is_no_id(self):
        response = self.client.get(self.url, {"user": str(self.user.pk)})
        self.assertContains(response, "By user")
        self.assertNotContains(self.client.get(self.url), "By user")
        for value in ("abc", "1" * 30, "-1"):
            with self.subTest(value):
                response = self.client.get(self.url, {"user": value})
                self.assertRedirects(response, f"{self.url}?e=1", fetch_redirect_response=False)

    def test_the_user_page_links_to_that_users_events(self):
        page = self.client.get(reverse("admin:accounts_user_change", args=[self.user.pk]))
        self.assertContains(page, f"{self.url}?user={self.user.pk}")

    def test_a_superuser_cannot_add_change_or_delete_an_event(self):
        change = reverse("admin:accounts_securityevent_change", args=[self.login.pk])
        delete = reverse("admin:accounts_securityevent_delete", args=[self.login.pk])
        page = self.client.get(change)
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'name="_save"')
        self.assertNotContains(self.client.get(self.url), 'value="delete_selected"')
        responses = {
            "add": self.client.get(reverse("admin:accounts_securityevent_add")),
            "change": self.client.post(change, {"reason": "edited"}),
            "delete page": self.client.get(delete),
            "delete": self.client.post(delete, {"post": "yes"}),
        }
        for label, response in responses.items():
            with self.subTest(label):
                self.assertEqual(response.status_code, 403)
        self.client.post(
            self.url, {"action": "delete_selected", "_selected_action": [self.login.pk]}
        )
        self.login.refresh_from_db()
        self.assertEqual(self.login.reason, "")

    def test_the_list_costs_the_same_queries_with_30_rows_as_with_3(self):
        def queries():
            with CaptureQueriesContext(connection) as captured:
                self.assertEqual(self.client.get(self.url).status_code, 200)
            return len(captured)

        few = queries()
        users = [make_user(email=f"u{number}@example.com") for number in range(30)]
        events.record(
            events.event(
                events.Name.LOGIN_SUCCESS,
                now=timezone.now(),
                user_id=user.pk,
                address="192.0.2.1",
                session_id="3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90",
            )
            for user in users
        )
        self.assertEqual(queries(), few)
        # The admin's session and user, the count, the page (users joined in).
        self.assertLessEqual(few, 5)
