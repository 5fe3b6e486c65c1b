"""``app/logs.py``: the bound fields, the JSON and text lines, the request line and what
``django.request`` keeps. Through the Lambda entry point: ``tests/app_tests/test_aws.py``."""

import io
import json
import logging
import logging.config
from unittest import mock

from django.conf import settings
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory, SimpleTestCase, TestCase, override_settings
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from rest_framework.test import APIClient

from app import logs
from app.accounts import services, tokens
from tests.accounts_tests.factories import PASSWORD, make_user


class Captured:
    """The project's logging in one format, written to a buffer, while a ``with`` lasts."""

    def __init__(self, log_format: str) -> None:
        self.log_format = log_format
        self.buffer = io.StringIO()

    def __enter__(self) -> "Captured":
        config = logs.logging_config(log_format=self.log_format, level="WARNING", service="svc")
        config["handlers"]["console"]["stream"] = self.buffer
        logging.config.dictConfig(config)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.config.dictConfig(settings.LOGGING)

    @property
    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]


class JsonLineTests(SimpleTestCase):
    def test_a_line_has_powertools_fields_the_bound_ones_and_its_extras_at_the_top(self):
        with Captured("json") as captured, logs.scope(correlation_id="abc", cold_start=False):
            logging.getLogger("app.security").info("Login %s", "failed", extra={"user_id": 3})
        [line] = captured.json()
        self.assertEqual(list(line)[:5], ["level", "location", "message", "timestamp", "service"])
        expected = {
            "level": "INFO",
            "message": "Login failed",
            "service": "svc",
            "logger": "app.security",
            "correlation_id": "abc",
            "cold_start": False,
            "user_id": 3,
        }
        self.assertEqual({key: line[key] for key in expected}, expected)
        self.assertRegex(line["location"], r"^test_a_line_has_powertools_fields\w+:\d+$")

    def test_an_error_carries_its_traceback_and_exception_name_as_fields(self):
        with Captured("json") as captured:
            try:
                raise ValueError("no")
            except ValueError:
                logging.getLogger("app").exception("It failed")
        [line] = captured.json()
        self.assertEqual(line["exception_name"], "ValueError")
        self.assertIn("Traceback", line["exception"])
        self.assertIn("ValueError: no", line["exception"])

    def test_scope_undoes_its_fields_and_what_bind_added_inside_it(self):
        with logs.scope(a=1):
            logs.bind(b=2)
            self.assertEqual(dict(logs.bound()), {"a": 1, "b": 2})
        self.assertEqual(dict(logs.bound()), {})


class TextLineTests(SimpleTestCase):
    def test_the_default_outside_lambda_is_text_for_people_with_extras_as_key_value(self):
        self.assertEqual(settings.LOG_FORMAT, "text")
        with Captured("text") as captured:
            logging.getLogger("app.security").warning("Locked", extra={"user_id": 3})
        self.assertEqual(captured.lines, ["WARNING app.security Locked user_id=3"])


class RequestLineTests(TestCase):
    def middleware_line(self, request, response=None):
        middleware = logs.request_log(lambda request: response or HttpResponse())
        with Captured("json") as captured:
            middleware(request)
        [line] = captured.json()
        return line

    def test_the_path_is_logged_without_its_query(self):
        request = RequestFactory().get("/api/?token=secret-link-token", REMOTE_ADDR="192.0.2.1")
        line = self.middleware_line(request)
        self.assertEqual((line["path"], line["client_address"]), ("/api/", "192.0.2.1"))
        self.assertNotIn("secret-link-token", json.dumps(line))

    def test_a_5xx_is_an_error_line_and_anything_else_info(self):
        for status, level in ((200, "INFO"), (404, "INFO"), (429, "INFO"), (503, "ERROR")):
            with self.subTest(status=status):
                line = self.middleware_line(RequestFactory().get("/"), HttpResponse(status=status))
                self.assertEqual((line["status"], line["level"]), (status, level))

    def test_djangos_lazy_user_is_not_evaluated_when_nothing_did_and_read_when_something_did(self):
        user = make_user()
        loaded = []

        def load():
            loaded.append(True)
            return user

        request = RequestFactory().get("/")
        request.user = SimpleLazyObject(load)
        self.assertNotIn("user_id", self.middleware_line(request))
        self.assertEqual(loaded, [])
        request.user.pk  # noqa: B018 (what the admin does)
        self.assertEqual(self.middleware_line(request)["user_id"], user.pk)

    def test_a_bearer_call_names_its_user_and_session(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        claims = tokens.decode_access_token(pair.access_token, now=timezone.now())
        with Captured("json") as captured:
            APIClient().get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {pair.access_token}")
        [line] = captured.json()
        self.assertEqual(line["user_id"], claims.user_id)
        self.assertEqual(line["session_id"], str(claims.session_id))

    def test_outside_lambda_a_sane_x_request_id_is_the_correlation_id_else_a_fresh_one(self):
        cases = {
            "a uuid": ("0b7a3e5c-5f0e-4a7e-9d57-2f3c1e0d9a11", True),
            "too short": ("abc", False),
            "a line break": ("abcdefgh\nINFO forged", False),
            "too long": ("a" * 200, False),
        }
        for label, (given, kept) in cases.items():
            with self.subTest(label):
                request = RequestFactory().get("/", HTTP_X_REQUEST_ID=given)
                seen = self.middleware_line(request)["correlation_id"]
                self.assertEqual(seen == given, kept)
                self.assertRegex(seen, r"^[A-Za-z0-9._:-]{8,128}$")


class DjangoRequestLoggerTests(TestCase):
    """Per request: the request line, and the cause of an error once; no status echo."""

    def test_a_4xx_logs_the_request_line_only(self):
        with Captured("json") as captured:
            APIClient().post("/api/login/", {"email": "a@example.com", "password": "x"})
            APIClient().get("/api/no-such-endpoint/")
        self.assertEqual([line["logger"] for line in captured.json()], ["app.request"] * 2)

    def test_an_unexpected_500_logs_the_request_line_and_its_traceback_once(self):
        client = APIClient(raise_request_exception=False)
        with (
            Captured("json") as captured,
            mock.patch("app.accounts.services.rotate", side_effect=RuntimeError("boom")),
        ):
            client.post(
                "/api/refresh/", {"refresh_token": tokens.new_refresh_token()}, format="json"
            )
        cause, request = captured.json()
        self.assertEqual(
            (cause["logger"], cause["exception_name"]), ("django.request", "RuntimeError")
        )
        self.assertEqual((request["logger"], request["status"]), ("app.request", 500))

    def test_a_lost_database_logs_its_cause_once_and_the_request_line(self):
        error = OperationalError("connection refused\nmore")
        with (
            Captured("json") as captured,
            mock.patch("app.accounts.services.rotate", side_effect=error),
        ):
            APIClient().post(
                "/api/refresh/", {"refresh_token": tokens.new_refresh_token()}, format="json"
            )
        cause, request = captured.json()
        self.assertEqual(cause["message"], "The database is unavailable: connection refused")
        self.assertEqual(cause["exception_name"], "OperationalError")
        self.assertEqual((request["status"], request["level"]), (503, "ERROR"))

    @override_settings(METRICS="emf")
    def test_with_metrics_on_a_request_outside_lambda_writes_its_own_emf_line(self):
        client = APIClient(raise_request_exception=False)
        with (
            mock.patch("app.accounts.services.rotate", side_effect=RuntimeError("boom")),
            mock.patch("sys.stdout", new_callable=io.StringIO) as stdout,
        ):
            client.post(
                "/api/refresh/", {"refresh_token": tokens.new_refresh_token()}, format="json"
            )
        [line] = stdout.getvalue().splitlines()
        self.assertEqual(json.loads(line)["ServerErrors"], 1)
