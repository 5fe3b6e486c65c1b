"""The Content-Security-Policy of `app/settings.py` (django-csp): every HTML page the project
serves loads scripts from our origin only."""

from django.test import TestCase
from django.urls import reverse

from app.accounts.models import User
from tests.accounts_tests.factories import PASSWORD


class ContentSecurityPolicyTests(TestCase):
    def test_every_html_page_forbids_scripts_from_other_origins_and_inline(self):
        staff = User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        pages = {
            "front door": ("/", False),
            "admin login": (reverse("admin:login"), False),
            "admin index": (reverse("admin:index"), True),
            "constance": (reverse("admin:constance_config_changelist"), True),
            "swagger ui": (reverse("swagger-ui"), False),
            "redoc": (reverse("redoc"), False),
            "browsable api": (reverse("register"), False),
        }
        for label, (url, as_staff) in pages.items():
            with self.subTest(label):
                if as_staff:
                    self.client.force_login(staff)
                response = self.client.get(url, HTTP_ACCEPT="text/html")
                self.assertIn(response.status_code, {200, 405})
                self.assertIn("text/html", response["Content-Type"])
                policy = dict(
                    part.strip().split(" ", 1)
                    for part in response["Content-Security-Policy"].split(";")
                )
                self.assertEqual(policy["script-src"], "'self'")
                self.assertEqual(policy["object-src"], "'none'")
                self.assertNotIn("<script>", response.content.decode())

    def test_swagger_ui_loads_its_setup_script_from_our_origin(self):
        page = self.client.get(reverse("swagger-ui")).content.decode()
        self.assertIn('<script src="/api/docs/?script=">', page)
        script = self.client.get(reverse("swagger-ui"), {"script": ""})
        self.assertEqual(script.status_code, 200)
        self.assertIn("SwaggerUIBundle", script.content.decode())

    def test_redoc_asks_no_other_host_for_fonts(self):
        page = self.client.get(reverse("redoc")).content.decode()
        self.assertNotIn("googleapis", page)
        self.assertNotIn("gstatic", page)
