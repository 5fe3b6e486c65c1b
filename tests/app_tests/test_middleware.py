"""``app/middleware.py``: no answer under /api/ is kept by a cache, whoever made it."""

from unittest import mock

from django.conf import settings
from django.test import Client, TestCase, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

NO_STORE = "app.middleware.api_no_store"
# First, so that it also sees the answers an earlier middleware makes on its own (the HTTPS
# redirect of SecurityMiddleware, CommonMiddleware's 400 for an unknown host).
MIDDLEWARE = [NO_STORE, *(name for name in settings.MIDDLEWARE if name != NO_STORE)]


@override_settings(MIDDLEWARE=MIDDLEWARE)
class ApiNoStoreTests(TestCase):
    def assert_not_stored(self, response):
        self.assertEqual(response["Cache-Control"], "no-store")
        self.assertEqual(response["Pragma"], "no-cache")

    def test_the_json_404_of_an_unknown_api_path_is_not_stored(self):
        response = APIClient().get("/api/no-such-endpoint/")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["code"], "not_found")
        self.assert_not_stored(response)

    def test_the_json_500_of_an_api_path_is_not_stored(self):
        client = APIClient(raise_request_exception=False)
        with mock.patch("app.accounts.services.login", side_effect=RuntimeError("boom")):
            response = client.post(
                reverse("login"), {"email": "a@example.com", "password": "x"}, format="json"
            )
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.json()["code"], "server_error")
        self.assert_not_stored(response)

    def test_an_api_answer_is_not_stored(self):
        response = APIClient().get(reverse("api-root"))
        self.assertEqual(response.status_code, 200)
        self.assert_not_stored(response)

    @override_settings(SECURE_SSL_REDIRECT=True)
    def test_the_https_redirect_of_an_api_path_is_not_stored(self):
        response = Client().get(reverse("me"))
        self.assertEqual(response.status_code, 301)
        self.assert_not_stored(response)

    @override_settings(ALLOWED_HOSTS=["testserver"])
    def test_the_400_for_an_unknown_host_on_an_api_path_is_not_stored(self):
        response = Client(HTTP_HOST="evil.example.com").get(reverse("me"))
        self.assertEqual(response.status_code, 400)
        self.assert_not_stored(response)

    def test_pages_outside_the_api_are_left_to_their_views(self):
        response = Client().get(reverse("front-door"))
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Pragma", response)
        self.assertNotEqual(response.get("Cache-Control"), "no-store")
