"""``app/views.py`` and ``app/docs.py``: the front door, and the docs loaded only for the docs."""

import os
import re
import subprocess
import sys

from django.test import RequestFactory, TestCase
from django.urls import reverse, set_script_prefix

from app.views import favicon
from devtools import ROOT


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


class LazyDocsTests(TestCase):
    """The OpenAPI machinery loads when the docs are asked for, never on an API request."""

    DOCS_MODULES = {
        "drf_spectacular.openapi",
        "drf_spectacular.views",
        "app.accounts.schema",
        "app.accounts.schema_hooks",
    }
    SCRIPT = (
        "import sys, django; django.setup()\n"
        "from django.test import Client; from django.test.utils import setup_test_environment\n"
        "setup_test_environment(); client = Client()\n"
        "client.post('/api/refresh/', {'refresh_token': 'x'}, content_type='application/json')\n"
        "client.get('/api/me/'); client.get('/')\n"
        "print(sorted(m for m in sys.modules if m in MODULES))\n"
        "client.get('/api/schema/')\n"
        "print(sorted(m for m in sys.modules if m in MODULES))\n"
    )

    def test_api_requests_never_import_drf_spectacular_and_the_docs_do(self):
        result = subprocess.run(
            [sys.executable, "-c", self.SCRIPT.replace("MODULES", repr(self.DOCS_MODULES))],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        api, docs = result.stdout.strip().splitlines()[-2:]
        self.assertEqual(api, "[]", result.stderr[-2000:])
        self.assertEqual(docs, str(sorted(self.DOCS_MODULES)))


class IconTests(TestCase):
    def test_favicon_ico_is_the_products_icon_under_the_script_prefix(self):
        response = self.client.get("/favicon.ico")
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].endswith("front/favicon.svg"), response["Location"])
        self.assertEqual(self.client.get(response["Location"]).status_code, 200)
        # Behind API Gateway the request's script prefix is the stage (the handler sets it).
        set_script_prefix("/dev/")
        try:
            prefixed = favicon(RequestFactory().get("/favicon.ico"))
        finally:
            set_script_prefix("/")
        self.assertTrue(prefixed["Location"].startswith("/dev/static/"), prefixed["Location"])

    def test_redoc_never_asks_another_origin_for_its_logo(self):
        page = self.client.get(reverse("redoc")).content.decode()
        guard = page.index("front/own-origin.js")
        self.assertLess(guard, page.index("redoc.standalone.js"))
        self.assertNotIn("fonts.googleapis.com", page)


class LinkPageTests(TestCase):
    """The pages our mailed links open: one form each, our script, nothing from elsewhere."""

    PAGES = {
        "/password/reset/": ("password-reset-confirm", "Choose a new password"),
        "/email/verify/": ("email-verify", "Confirm your e-mail address"),
        "/email/revert/": ("email-revert", "This wasn&#x27;t me"),
    }

    def test_each_page_posts_the_token_to_its_endpoint_with_our_script_only(self):
        for path, (endpoint, title) in self.PAGES.items():
            with self.subTest(path):
                response = self.client.get(path, {"token": "T" * 43})
                self.assertEqual(response.status_code, 200)
                page = response.content.decode()
                self.assertIn(f"<h1>{title}</h1>", page)
                self.assertIn(f'data-api="{reverse(endpoint)}"', page)
                self.assertNotIn("<script>", page)
                for url in re.findall(r'(?:src|href)="([^"]+)"', page):
                    self.assertTrue(url.startswith("/"), url)
                self.assertIn("script-src 'self'", response["Content-Security-Policy"])

    def test_only_the_reset_page_asks_for_a_new_password(self):
        for path in self.PAGES:
            with self.subTest(path):
                page = self.client.get(path).content.decode()
                self.assertEqual('autocomplete="new-password"' in page, path == "/password/reset/")

    def test_the_pages_send_no_referrer_so_the_token_stays_on_our_origin(self):
        for path in self.PAGES:
            with self.subTest(path):
                self.assertContains(
                    self.client.get(path), '<meta name="referrer" content="no-referrer">'
                )

    def test_the_reset_form_submitted_before_its_script_runs_puts_no_password_in_a_url(self):
        # Without a method a form submits by GET: typed and sent before account-link.js has
        # loaded (a slow network, scripts off), the new password would land in the address
        # bar, the history and every access log, as /password/reset/?new_password=...
        page = self.client.get("/password/reset/", {"token": "T" * 43}).content.decode()
        (form,) = re.findall(r"<form\b[^>]*>", page)
        self.assertRegex(form, r'\bmethod="post"', form)
