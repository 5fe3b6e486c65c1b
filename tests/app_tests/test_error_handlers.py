"""``app/error_handlers.py``: one JSON error shape, whatever went wrong."""

from unittest import mock

from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.test import TestCase
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from app import error_handlers


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
        header = error_handlers._www_authenticate(exc)
        description = header.split('error_description="')[1][:-1]
        self.assertNotRegex(description, r'["\\]|[^\x20-\x7e]')

    def test_an_unknown_format_is_a_json_404_on_every_api_path(self):
        # DRF's content negotiation raises Django's Http404 for an unknown ?format=.
        client = APIClient()
        for name in ("api-root", "login", "me", "sessions"):
            with self.subTest(name):
                response = client.get(reverse(name), {"format": "x"})
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response["Content-Type"], "application/json")
                self.assertEqual(response.json(), {"code": "not_found", "detail": "Not found."})

    def test_djangos_permission_denied_is_a_json_403(self):
        response = error_handlers.api_exception_handler(PermissionDenied("secret reason"), {})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.data["code"], "permission_denied")
        self.assertNotIn("secret reason", response.data["detail"])
