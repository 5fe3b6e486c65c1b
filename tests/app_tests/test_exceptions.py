"""``app/exceptions.py``: one JSON error shape, whatever went wrong."""

from unittest import mock

from django.db import OperationalError
from django.test import TestCase
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed

from app import exceptions


class ExceptionHandlerTests(TestCase):
    def test_a_lost_database_connection_is_a_json_503_with_retry_after(self):
        with mock.patch(
            "app.accounts.services.login", side_effect=OperationalError("server closed")
        ):
            response = self.client.post(
                reverse("login"),
                {"email": "a@example.com", "password": "x"},
                content_type="application/json",
            )
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["code"], "service_unavailable")
        self.assertNotIn("server closed", response.content.decode())
        self.assertEqual(response["Retry-After"], "5")

    def test_error_description_keeps_only_characters_rfc_6750_allows(self):
        exc = AuthenticationFailed('Token is missing the "exp" claim\\ é', code="invalid_token")
        header = exceptions._www_authenticate(exc)
        description = header.split('error_description="')[1][:-1]
        self.assertNotRegex(description, r'["\\]|[^\x20-\x7e]')
