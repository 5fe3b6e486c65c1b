"""OpenAPI schema, Swagger UI and ReDoc (``app/accounts/schema.py``, ``schema_hooks.py`` and
``app/urls.py``)."""

from django.test import TestCase
from django.urls import reverse

from devtools import API_PATHS
from devtools.http import static_assets


class SchemaTests(TestCase):
    def setUp(self):
        response = self.client.get(reverse("schema"), HTTP_ACCEPT="application/json")
        self.assertEqual(response.status_code, 200)
        self.schema = response.json()

    def test_schema_lists_exactly_the_api_endpoints(self):
        self.assertEqual(sorted(self.schema["paths"]), sorted(API_PATHS))

    def test_schema_declares_bearer_auth_for_me_only(self):
        scheme = self.schema["components"]["securitySchemes"]["bearerAuth"]
        self.assertEqual((scheme["type"], scheme["scheme"]), ("http", "bearer"))
        self.assertEqual(self.schema["paths"]["/api/me/"]["get"]["security"], [{"bearerAuth": []}])
        self.assertNotIn("bearerAuth", str(self.schema["paths"]["/api/login/"]))

    def test_every_operation_documents_its_errors_with_examples(self):
        for path, operations in self.schema["paths"].items():
            for method, operation in operations.items():
                with self.subTest(path=path, method=method):
                    responses = operation["responses"]
                    self.assertTrue(any(code.startswith("2") for code in responses))
                    self.assertTrue(any(code[0] in "45" for code in responses))
                    errors = [r for code, r in responses.items() if code[0] == "4"]
                    self.assertTrue(
                        all("examples" in r["content"]["application/json"] for r in errors)
                    )


class DocsPageTests(TestCase):
    def assert_assets_are_ours(self, url):
        page = self.client.get(url)
        self.assertEqual(page.status_code, 200)
        html = page.content.decode()
        assets = static_assets(html)
        self.assertTrue(assets)
        for asset in assets:
            with self.subTest(asset=asset):
                self.assertTrue(asset.startswith("/static/"), asset)
                response = self.client.get(asset)
                self.assertEqual(response.status_code, 200)
                b"".join(response.streaming_content)
        self.assertNotRegex(html, r"https?://(?!127\.0\.0\.1)[^\"']*\.(js|css)")

    def test_swagger_ui_is_served_with_local_assets(self):
        self.assert_assets_are_ours(reverse("swagger-ui"))

    def test_redoc_is_served_with_local_assets(self):
        self.assert_assets_are_ours(reverse("redoc"))


class SchemaFindingsTests(TestCase):
    """What fuzzing with schemathesis found the schema got wrong, kept fixed."""

    def setUp(self):
        self.schema = self.client.get(reverse("schema"), HTTP_ACCEPT="application/json").json()
        self.components = self.schema["components"]["schemas"]

    def test_refresh_token_in_requests_is_documented_as_a_uuid(self):
        # A schema-valid "abc" was refused with 400: the schema said any string.
        field = self.components["RefreshTokenRequest"]["properties"]["refresh_token"]
        self.assertEqual((field["type"], field["format"]), ("string", "uuid"))

    def test_register_password_documents_the_minimum_length(self):
        field = self.components["RegisterRequest"]["properties"]["password"]
        self.assertEqual(field["minLength"], 8)

    def test_session_links_chain_register_login_me_refresh_logout(self):
        def links(path, status):
            return {
                name: link["operationId"]
                for name, link in self.schema["paths"][path]["post"]["responses"][status][
                    "links"
                ].items()
            }

        self.assertEqual(links("/api/register/", "201"), {"LogIn": "login"})
        expected = {
            "ReadProfile": "me_read",
            "Refresh": "refresh",
            "LogOut": "logout",
            "ListSessions": "sessions_list",
            "LogOutEverywhere": "logout_all",
        }
        self.assertEqual(links("/api/login/", "200"), expected)
        self.assertEqual(links("/api/refresh/", "200"), expected)
        end = self.schema["paths"]["/api/sessions/"]["get"]["responses"]["200"]["links"]
        self.assertEqual(end["EndSession"]["operationId"], "session_end")
