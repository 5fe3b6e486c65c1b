"""``app/parsers.py``: JSON bodies, and how deep they may nest."""

from django.urls import reverse
from rest_framework.test import APITestCase

from app.parsers import MAX_JSON_DEPTH


class JSONParserTests(APITestCase):
    def test_deeply_nested_json_is_a_400_parse_error(self):
        for depth in (33, 900, 1000, 20000):
            with self.subTest(depth=depth):
                body = "[" * depth + "]" * depth
                response = self.client.post(
                    reverse("login"), data=body, content_type="application/json"
                )
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.json()["code"], "parse_error")
                self.assertIn(
                    f"nested deeper than {MAX_JSON_DEPTH} levels", response.json()["detail"]
                )

    def test_json_nested_within_the_limit_reaches_validation(self):
        body = {"email": [[[["x"]]]], "password": "x"}
        response = self.client.post(reverse("login"), body, format="json")
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["fields"]["email"][0]["code"], "invalid")
