"""``app/accounts/admin.py`` and the Constance page: what staff see and can do."""

import jwt
from constance import config
from django.test import TestCase
from django.urls import reverse

from app.accounts import services, tokens
from app.accounts.models import RefreshToken, User
from tests.accounts_tests.factories import PASSWORD, make_user


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

    def test_refresh_token_list_shows_state_and_never_the_digest(self):
        pair = services.login(email="admin@example.com", password=PASSWORD)
        response = self.client.get(reverse("admin:accounts_refreshtoken_changelist"))
        self.assertContains(response, "active")
        self.assertNotContains(response, tokens.refresh_token_digest(pair.refresh_token))
        self.assertNotContains(response, pair.refresh_token)

    def test_refresh_token_page_is_read_only(self):
        services.login(email="admin@example.com", password=PASSWORD)
        token = RefreshToken.objects.get()
        url = reverse("admin:accounts_refreshtoken_change", args=[token.pk])
        self.assertNotContains(self.client.get(url), 'name="_save"')
        self.assertEqual(self.client.post(url, {"revoked_at": ""}).status_code, 403)
        self.assertEqual(
            self.client.get(reverse("admin:accounts_refreshtoken_add")).status_code, 403
        )

    def test_revoke_action_revokes_the_selected_sessions(self):
        services.login(email="admin@example.com", password=PASSWORD)
        token = RefreshToken.objects.get()
        response = self.client.post(
            reverse("admin:accounts_refreshtoken_changelist"),
            {"action": "revoke_sessions", "_selected_action": [token.pk]},
        )
        self.assertEqual(response.status_code, 302)
        token.refresh_from_db()
        self.assertEqual(token.state(), "revoked")


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

    def test_constance_page_lists_both_lifetimes_with_help(self):
        response = self.client.get(self.url)
        self.assertContains(response, "ACCESS_TOKEN_LIFETIME")
        self.assertContains(response, "REFRESH_TOKEN_LIFETIME")
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

    def test_a_lifetime_below_one_second_is_refused(self):
        response = self.post_lifetimes(access="0", refresh="30 00:00:00")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(config.ACCESS_TOKEN_LIFETIME, 30)
