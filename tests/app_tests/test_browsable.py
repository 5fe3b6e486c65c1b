"""``app/browsable.py``: what the browsable API tells a person about each endpoint."""

from django.test import TestCase
from django.urls import reverse

from app.browsable import BEARER_HOW_TO


class BrowsableAPITests(TestCase):
    def page(self, name):
        response = self.client.get(reverse(name), HTTP_ACCEPT="text/html")
        return response.content.decode()

    def test_the_root_has_a_human_title_and_no_raw_markup(self):
        page = self.page("api-root")
        self.assertIn("Authentication API", page)
        self.assertNotIn("Api Root", page)
        self.assertNotIn("``", page)

    def test_an_endpoint_that_needs_a_login_says_how_to_send_the_token(self):
        for name in ("me", "sessions", "logout-all", "password"):
            with self.subTest(name):
                page = self.page(name)
                self.assertIn("<code>Authorization: Bearer &lt;access token&gt;</code>", page)

    def test_a_public_endpoint_says_nothing_of_tokens(self):
        self.assertNotIn(BEARER_HOW_TO.split(":")[0], self.page("login"))
