"""``app/views.py``: the front door and the schema, as a browser gets them."""

import re

from django.test import TestCase
from django.urls import reverse


class FrontDoorTests(TestCase):
    def test_the_front_door_says_what_this_is_and_links_every_page(self):
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "<h1>Authentication API</h1>", html=False)
        for name in ("swagger-ui", "redoc", "api-root", "schema", "admin:index"):
            with self.subTest(name):
                self.assertContains(response, f'href="{reverse(name)}"')

    def test_the_walk_through_knows_every_endpoint_and_loads_its_script_from_us(self):
        page = self.client.get("/").content.decode()
        for name in ("register", "login", "refresh", "logout", "me"):
            with self.subTest(name):
                self.assertIn(f'data-{name}="{reverse(name)}"', page)
        script = re.search(r'<script src="([^"]+)"', page)[1]
        self.assertTrue(script.startswith("/static/"))
        self.assertNotIn("<script>", page)

    def test_the_admins_view_site_link_lands_on_the_front_door(self):
        from app.accounts.models import User

        self.client.force_login(User.objects.create_superuser("a@example.com", "x" * 20))
        self.assertContains(self.client.get(reverse("admin:index")), '<a href="/">View site</a>')


class SchemaViewTests(TestCase):
    def test_a_browser_gets_the_schema_as_json_to_read_not_yaml_to_download(self):
        response = self.client.get(reverse("schema"), HTTP_ACCEPT="text/html,*/*;q=0.8")
        self.assertEqual(response["Content-Type"], "application/vnd.oai.openapi+json")
        self.assertEqual(response.json()["info"]["title"], "Authentication API")

    def test_yaml_is_still_served_when_asked_for(self):
        response = self.client.get(reverse("schema"), {"format": "yaml"})
        self.assertTrue(response.content.startswith(b"openapi: "))
