"""``app/admin.py``: the admin's login form is throttled like the API's login."""

from django.conf import settings
from django.test import TestCase
from django.urls import reverse

from app.accounts.models import User
from tests.accounts_tests.factories import PASSWORD


class AdminLoginThrottleTests(TestCase):
    def setUp(self):
        User.objects.create_superuser(email="admin@example.com", password=PASSWORD)

    def log_in(self, password, email="admin@example.com", address="203.0.113.9"):
        return self.client.post(
            reverse("admin:login"),
            {"username": email, "password": password, "next": "/admin/"},
            REMOTE_ADDR=address,
        )

    def test_the_right_password_after_the_limit_of_wrong_ones_is_refused_with_429(self):
        limit = settings.LOGIN_THROTTLE["per_pair"]
        for _ in range(limit):
            self.assertEqual(self.log_in("wrong-password").status_code, 200)
        response = self.log_in(PASSWORD)
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Too many failed logins", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_admin_form_and_the_api_share_one_count_per_email_and_address(self):
        limit = settings.LOGIN_THROTTLE["per_pair"]
        for _ in range(limit):
            self.client.post(
                reverse("login"),
                {"email": "ADMIN@example.com", "password": "wrong"},
                content_type="application/json",
                REMOTE_ADDR="203.0.113.9",
            )
        self.assertEqual(self.log_in(PASSWORD).status_code, 429)
        # From another address the staff member's right password still opens the admin.
        self.assertEqual(self.log_in(PASSWORD, address="198.51.100.4").status_code, 302)

    def test_a_successful_admin_login_does_not_use_up_an_attempt(self):
        limit = settings.LOGIN_THROTTLE["per_pair"]
        for _ in range(limit + 1):
            self.assertEqual(self.log_in(PASSWORD).status_code, 302)
            self.client.logout()


class AdminBrandingTests(TestCase):
    def test_the_admin_says_the_products_name_and_shows_its_icon(self):
        page = self.client.get(reverse("admin:login")).content.decode()
        self.assertIn("Authentication API administration", page)
        self.assertNotIn("Django administration", page)
        self.assertIn("front/favicon.svg", page)
