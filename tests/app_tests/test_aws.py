"""The API as Lambda runs it: the function's entry point (``app/aws/lambda_function.py``), events
of API Gateway, Function URLs and the daily schedule (which goes on to Zappa's handler).

Also ``app/aws/environ.py`` (the stage prefix and client address from the event),
``app/aws/snapstart.py`` (the init phase, the SnapStart hooks) and ``app/storages.py``
(stage-prefixed static URLs), and mail on Lambda: the request answered before any message,
one asynchronous invocation of the function, and that invocation sending the message through
SES (``LambdaMailTests``). AWS is moto_server, in a thread on 127.0.0.1: nothing leaves this
machine.
"""

import email
import email.policy
import json
import logging
import os
import random
import re
import sys
import uuid
from datetime import timedelta
from unittest import mock

from apig_wsgi import make_lambda_handler
from botocore.exceptions import ClientError
from django.core import mail
from django.db import connection
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from app.accounts import services
from app.accounts.models import MailToken, RefreshToken, Session, User
from app.aws.environ import ApiGatewayEnviron
from app.aws.snapstart import (
    after_restore,
    before_snapshot,
    prepare_for_requests,
    register_snapshot_hooks,
)
from app.settings import aws_hosts
from devtools import random_signing_key
from devtools.http import Reply, admin_login_form, static_assets
from devtools.lambda_harness import (
    API_HOST,
    CLIENT_IP,
    REGION,
    URL_HOST,
    LambdaContext,
    LambdaHarness,
    api_gateway_event,
    async_invocations,
    aws_environment,
    aws_only_at,
    function_url_event,
    lambda_output,
    moto_server,
    put_stage_secrets,
    scheduled_event,
    ses_sent_messages,
    verify_ses_identity,
)
from devtools.zappa import stage_config
from tests.accounts_tests.factories import PASSWORD, login_throttle, make_user
from tests.app_tests.test_metrics import assert_valid_emf

SECRETS = {
    "DJANGO_SECRET_KEY": "remote-secret-key-" + "x" * 40,
    "JWT_PRIVATE_KEY": random_signing_key(),
}
PRODUCTION_LIKE = {
    "ALLOWED_HOSTS": aws_hosts(REGION),
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}


@override_settings(**PRODUCTION_LIKE)
class LambdaHandlerTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Each undone however the class ends, set-up failures included, in reverse order.
        endpoint = cls.enterClassContext(moto_server())
        cls.enterClassContext(mock.patch.dict(os.environ, aws_environment(endpoint)))
        put_stage_secrets("dev", SECRETS, endpoint_url=endpoint)
        cls.lambda_ = LambdaHarness("dev")
        cls.addClassCleanup(cls.lambda_.close)

    def setUp(self):
        self.lambda_.cookies.clear()

    def call(self, method, path, **kwargs):
        return self.lambda_.request(method, path, **kwargs)

    def bearer(self, token):
        return {"Authorization": f"Bearer {token}"}

    def test_cold_start_loads_the_secrets_from_remote_env_in_s3(self):
        for name, value in SECRETS.items():
            self.assertEqual(os.environ[name], value)

    def test_the_readme_session_works_through_api_gateway(self):
        credentials = {"email": "user@example.com", "password": PASSWORD}
        registered = self.call("POST", "/api/register/", json_body=credentials)
        self.assertEqual(registered.status, 201, registered.text)
        pair = self.call("POST", "/api/login/", json_body=credentials).json()
        me = self.call("GET", "/api/me/", headers=self.bearer(pair["access_token"]))
        self.assertEqual(me.json()["email"], "user@example.com")
        updated = self.call(
            "PUT",
            "/api/me/",
            json_body={"username": "John Smith"},
            headers=self.bearer(pair["access_token"]),
        )
        self.assertEqual(updated.json()["username"], "John Smith")
        renewed = self.call(
            "POST", "/api/refresh/", json_body={"refresh_token": pair["refresh_token"]}
        )
        self.assertEqual(renewed.status, 200)
        logout = self.call(
            "POST", "/api/logout/", json_body={"refresh_token": renewed.json()["refresh_token"]}
        )
        self.assertEqual(logout.json(), {"success": "User logged out."})

    def test_errors_keep_their_status_body_and_headers_through_api_gateway(self):
        bad_token = self.call("GET", "/api/me/", headers=self.bearer("nope"))
        self.assertEqual(bad_token.status, 401)
        self.assertEqual(bad_token.json()["code"], "invalid_token")
        self.assertIn('error="invalid_token"', bad_token.header("WWW-Authenticate"))
        invalid = self.call("POST", "/api/register/", json_body={"email": "x"})
        self.assertEqual(invalid.status, 400)
        self.assertEqual(invalid.json()["code"], "invalid")

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=50, per_address=2))
    def test_failed_logins_are_throttled_by_the_events_source_ip(self):
        # Each request claims another X-Forwarded-For; only the event's sourceIp counts.
        for number in range(3):
            response = self.call(
                "POST",
                "/api/login/",
                json_body={"email": f"guess{number}@example.com", "password": "x"},
                headers={"X-Forwarded-For": f"192.0.2.{number}, {CLIENT_IP}"},
            )
        self.assertEqual(response.status, 429)
        self.assertEqual(response.json()["code"], "throttled")
        self.assertIsNotNone(response.header("Retry-After"))

    def test_function_url_events_serve_the_api(self):
        make_user()
        response = self.call(
            "POST",
            "/api/login/",
            json_body={"email": "user@example.com", "password": PASSWORD},
            function_url=True,
        )
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(set(response.json()), {"access_token", "refresh_token"})

    def assert_page_assets_load(self, path, prefix, function_url=False):
        page = self.call("GET", path, function_url=function_url)
        self.assertEqual(page.status, 200, page.text[:500])
        assets = static_assets(page.text)
        self.assertTrue(assets)
        for asset in assets:
            with self.subTest(asset=asset):
                self.assertTrue(asset.startswith(f"{prefix}/static/"), asset)
                loaded = self.call("GET", asset[len(prefix) :], function_url=function_url)
                self.assertEqual(loaded.status, 200)
                self.assertTrue(loaded.content)
        return page

    def test_swagger_ui_and_every_asset_load_under_the_stage_prefix(self):
        page = self.assert_page_assets_load("/api/docs/", "/dev")
        self.assertIn('<script src="/dev/api/docs/?script=">', page.text)
        script = self.call("GET", "/api/docs/?script=")
        self.assertEqual(script.status, 200)
        self.assertIn('"/dev/api/schema/"', script.text)

    def test_schema_names_the_stage_as_its_server_so_try_it_out_reaches_the_api(self):
        # Found with a browser: Swagger UI sent /api/... without the stage and got a 403.
        schema = self.call("GET", "/api/schema/", headers={"Accept": "application/json"})
        self.assertEqual(schema.json()["servers"], [{"url": "/dev"}])
        direct = self.call(
            "GET", "/api/schema/", headers={"Accept": "application/json"}, function_url=True
        )
        self.assertNotIn("servers", direct.json())

    def test_redoc_loads_under_the_stage_prefix(self):
        self.assert_page_assets_load("/api/redoc/", "/dev")

    def test_pages_under_a_function_url_link_static_files_without_a_prefix(self):
        self.assert_page_assets_load("/api/docs/", "", function_url=True)

    def test_admin_login_with_csrf_then_the_constance_page_and_its_css(self):
        User.objects.create_superuser(email="admin@example.com", password=PASSWORD)
        login_page = self.call("GET", "/admin/login/")
        self.assertEqual(login_page.status, 200)
        self.assertIn("csrftoken", self.lambda_.cookies)
        logged_in = self.call(
            "POST",
            "/admin/login/?next=/dev/admin/",
            form=admin_login_form(login_page.text),
            headers={
                "Origin": f"https://{API_HOST}",
                "Referer": f"https://{API_HOST}/dev/admin/login/",
            },
        )
        self.assertEqual(logged_in.status, 302, logged_in.text[:1000])
        self.assertEqual(logged_in.header("Location"), "/dev/admin/")
        self.assertIn("Secure", " ".join(logged_in.cookies))
        constance = self.assert_page_assets_load("/admin/constance/config/", "/dev")
        self.assertIn("ACCESS_TOKEN_LIFETIME", constance.text)
        self.assertIn("/dev/static/admin/css/base.css", constance.text)

    def test_a_host_outside_allowed_hosts_gets_400(self):
        response = self.call("GET", "/api/schema/", headers={"Host": "evil.example.com"})
        self.assertEqual(response.status, 400)

    def test_the_scheduled_event_purges_only_expired_tokens(self):
        make_user()
        services.login(
            email="user@example.com", password=PASSWORD, now=timezone.now() - timedelta(days=31)
        )
        kept = services.login(email="user@example.com", password=PASSWORD)
        result = self.lambda_.invoke(scheduled_event("app.aws.schedule.purge_expired"))
        self.assertEqual(result["refresh_tokens"], 1)
        self.assertEqual(RefreshToken.objects.count(), 1)
        self.assertIsNotNone(services.rotate(refresh_token=kept.refresh_token).refresh_token)

    def test_zappa_manage_events_run_management_commands(self):
        # scripts/deploy migrates with `zappa manage dev "migrate --noinput"`.
        make_user()
        services.login(
            email="user@example.com", password=PASSWORD, now=timezone.now() - timedelta(days=31)
        )
        self.assertEqual(self.lambda_.invoke({"manage": "purge_expired"}), {})
        self.assertEqual(RefreshToken.objects.count(), 0)

    def test_zappa_invoke_raw_events_run_python(self):
        # How scripts/deploy says to create the first admin.
        self.lambda_.invoke(
            {
                "raw_command": "from app.accounts.models import User; "
                "User.objects.create_superuser('root@example.com', 'a-long-temporary-password')"
            }
        )
        self.assertTrue(User.objects.get(email="root@example.com").is_superuser)

    def test_a_bearer_header_beyond_latin_1_is_a_401_with_the_bearer_challenge(self):
        response = self.call("GET", "/api/me/", headers=self.bearer("\u2603"))
        self.assertEqual(response.status, 401, response.text)
        self.assertEqual(response.json()["code"], "invalid_token")
        self.assertIn('error="invalid_token"', response.header("WWW-Authenticate"))

    def test_a_path_beyond_latin_1_is_a_json_404(self):
        response = self.call("GET", "/api/\u2603/")
        self.assertEqual(response.status, 404)
        self.assertEqual(response.json()["code"], "not_found")

    def send(self, event):
        return Reply.from_lambda(self.lambda_.invoke(event))

    def test_an_event_whose_identity_is_null_is_answered(self):
        event = api_gateway_event("GET", "/api/", "", {}, None, "dev")
        event["requestContext"]["identity"] = None
        response = self.send(event)
        self.assertEqual(response.status, 200, response.text)
        self.assertIn("login", response.json())

    def test_a_login_in_an_event_without_source_ip_records_no_address_from_x_forwarded_for(self):
        make_user()
        event = api_gateway_event(
            "POST",
            "/api/login/",
            "",
            {"Content-Type": "application/json", "X-Forwarded-For": "203.0.113.9"},
            json.dumps({"email": "user@example.com", "password": PASSWORD}),
            "dev",
        )
        del event["requestContext"]["identity"]["sourceIp"]
        response = self.send(event)
        self.assertEqual(response.status, 200, response.text)
        self.assertIsNone(Session.objects.get().ip_address)

    def lines_of(self, output, only_json=False):
        """Every line the function wrote, each parsed as JSON (failing on any that is not)."""
        text = output if isinstance(output, str) else output.getvalue()
        lines = text.splitlines()
        return [json.loads(line) for line in lines if not only_json or line.startswith("{")]

    def request_event(self, method, path, query="", headers=None, body=None):
        headers = {"Content-Type": "application/json", **(headers or {})}
        return api_gateway_event(method, path, query, headers, body and json.dumps(body), "dev")

    def test_every_line_of_a_request_is_json_with_the_invocations_and_the_requests_fields(self):
        make_user()
        pair = services.login(email="user@example.com", password=PASSWORD)
        event = self.request_event("GET", "/api/me/", headers=self.bearer(pair.access_token))
        with lambda_output() as output:
            response = self.send(event)
        self.assertEqual(response.status, 200, response.text)
        [line] = self.lines_of(output)
        expected = {
            "level": "INFO",
            "service": "auth-api",
            "logger": "app.request",
            "function_request_id": self.lambda_.context.aws_request_id,
            "correlation_id": event["requestContext"]["requestId"],
            "method": "GET",
            "path": "/dev/api/me/",
            "status": 200,
            "user_id": User.objects.get().pk,
            "session_id": str(Session.objects.get().pk),
            "client_address": CLIENT_IP,
        }
        self.assertEqual({key: line.get(key) for key in expected}, expected)
        self.assertEqual(line["message"], f"GET /dev/api/me/ 200 {line['duration_ms']:.1f} ms")
        self.assertIsInstance(line["duration_ms"], float)
        self.assertIsInstance(line["cold_start"], bool)
        self.assertRegex(line["location"], r"^\w+:\d+$")
        self.assertRegex(line["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\+0000$")

    def test_a_function_url_events_request_id_is_the_correlation_id(self):
        event = function_url_event("GET", "/api/", "", {}, None, "dev")
        with lambda_output() as output:
            self.send(event)
        [line] = self.lines_of(output)
        self.assertEqual(line["correlation_id"], event["requestContext"]["requestId"])
        self.assertEqual(line["path"], "/api/")

    @override_settings(METRICS="emf")
    def test_cold_start_is_true_on_the_first_invocation_only_and_counted_once(self):
        self.lambda_.cold_start()
        with lambda_output() as output:
            for _ in range(2):
                self.send(self.request_event("GET", "/api/"))
        lines = self.lines_of(output)
        requests = [line for line in lines if line.get("logger") == "app.request"]
        self.assertEqual([line["cold_start"] for line in requests], [True, False])
        [emf] = [line for line in lines if "_aws" in line]
        self.assertEqual(emf["ColdStart"], 1)

    def test_a_zappa_event_logs_with_its_function_request_id_and_no_correlation_id(self):
        command = "import logging; logging.getLogger('app.security').info('from a command')"
        with lambda_output() as output:
            self.lambda_.invoke({"raw_command": command})
            logging.getLogger("app.security").info("after it")
        # Zappa's handler prints "Instancing.." once per process, not a log line of ours.
        lines = self.lines_of(output, only_json=True)
        [inside] = [line for line in lines if line["message"] == "from a command"]
        self.assertEqual(inside["function_request_id"], self.lambda_.context.aws_request_id)
        self.assertIn("cold_start", inside)
        self.assertNotIn("correlation_id", inside)
        self.assertNotIn("function_request_id", lines[-1], "bound to the invocation only")

    @override_settings(METRICS="emf", LOGIN_THROTTLE=login_throttle(per_pair=50, per_address=1))
    def test_an_invocation_writes_one_emf_line_with_its_throttled_and_server_errors(self):
        credentials = {"email": "guess@example.com", "password": "x"}
        self.send(self.request_event("GET", "/api/"))  # not the cold start: that counts too
        with lambda_output() as output:
            self.send(self.request_event("POST", "/api/login/", body=credentials))
            throttled = self.send(self.request_event("POST", "/api/login/", body=credentials))
            with mock.patch("app.accounts.services.rotate", side_effect=RuntimeError("boom")):
                refresh = {"refresh_token": str(uuid.uuid4())}
                failed = self.send(self.request_event("POST", "/api/refresh/", body=refresh))
        self.assertEqual((throttled.status, failed.status), (429, 500))
        emf = [line for line in self.lines_of(output) if "_aws" in line]
        # The failed login counted nothing of ours (the services count LoginFailed).
        self.assertEqual(
            [{name: line.get(name) for name in ("Throttled", "ServerErrors")} for line in emf],
            [{"Throttled": 1, "ServerErrors": None}, {"Throttled": None, "ServerErrors": 1}],
        )
        for line in emf:
            with self.subTest(line=line):
                assert_valid_emf(self, line)

    def test_no_line_holds_a_token_password_authorization_header_or_query(self):
        make_user()
        with lambda_output() as output:
            login = self.request_event(
                "POST", "/api/login/", body={"email": "user@example.com", "password": PASSWORD}
            )
            pair = self.send(login).json()
            access, refresh = pair["access_token"], {"refresh_token": pair["refresh_token"]}
            calls = [
                self.request_event("GET", "/api/me/", headers=self.bearer(access)),
                self.request_event("GET", "/api/me/", headers=self.bearer(access + "x")),
                self.request_event("POST", "/api/refresh/", body=refresh),
                self.request_event("POST", "/api/refresh/", body=refresh),
                self.request_event("GET", "/api/", query=f"token={pair['refresh_token']}"),
                self.request_event(
                    "POST",
                    "/api/password/reset/confirm/",
                    query=f"token={pair['access_token']}",
                    body={"token": pair["refresh_token"], "new_password": PASSWORD},
                ),
            ]
            for event in calls:
                self.send(event)
        output = output.getvalue()
        self.assertEqual(len(self.lines_of(output)), 1 + len(calls))
        for secret in (
            pair["access_token"],
            pair["refresh_token"],
            PASSWORD,
            "Authorization",
            "Bearer",
            "token=",
            "csrftoken",
        ):
            with self.subTest(secret=secret[:12]):
                self.assertNotIn(secret, output)
        self.assertEqual(logging.getLevelName(logging.getLogger().level), "WARNING")


# The dev stage's SES identity, verified in moto as it is in SES, and an address at it.
SES_IDENTITY = stage_config("dev")["ses_identity"]
FROM = f"Authentication API <no-reply@{SES_IDENTITY}>"
# The stage's URL as API Gateway's events name it: where links point without PUBLIC_BASE_URL.
STAGE_URL = f"https://{API_HOST}/dev"
NEW_PASSWORD = "a-brand-new-horse-battery"


def text_of(raw_message: str) -> str:
    """The plain-text part of a MIME message as SES received it."""
    message = email.message_from_string(raw_message, policy=email.policy.default)
    return message.get_body(preferencelist=("plain",)).get_content()


@override_settings(
    **PRODUCTION_LIKE,
    # As on Lambda (app/settings.py chooses both by AWS_LAMBDA_FUNCTION_NAME at start-up).
    EMAIL_BACKEND="django_ses.SESBackend",
    TASKS_IN_BACKGROUND=True,
    DEFAULT_FROM_EMAIL=FROM,
    PUBLIC_BASE_URL="",
)
class LambdaMailTests(TestCase):
    """Mail on Lambda: ``POST /api/password/reset/`` through the entry point is answered with
    nothing sent but one asynchronous invocation of the function; that invocation, handed to
    the entry point as Lambda would, sends the message through SES (moto), whose link's token
    sets a new password. botocore may reach moto_server only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.endpoint = cls.enterClassContext(moto_server())
        environment = {
            **aws_environment(cls.endpoint),
            "AWS_LAMBDA_FUNCTION_NAME": LambdaContext.function_name,
        }
        cls.enterClassContext(mock.patch.dict(os.environ, environment))
        cls.refused = cls.enterClassContext(aws_only_at(cls.endpoint))
        put_stage_secrets("dev", SECRETS, endpoint_url=cls.endpoint)
        verify_ses_identity(SES_IDENTITY, endpoint_url=cls.endpoint)
        cls.lambda_ = LambdaHarness("dev")
        cls.addClassCleanup(cls.lambda_.close)

    def setUp(self):
        ses_sent_messages().clear()
        self.refused.clear()
        self.invocations = self.enterContext(async_invocations())
        make_user()

    def tearDown(self):
        self.assertEqual(self.refused, [], "a request for AWS itself was stopped")

    def ask_for_a_reset(self, address="user@example.com", **options):
        return self.lambda_.request(
            "POST", "/api/password/reset/", json_body={"email": address}, **options
        )

    def run_invocation(self, invocation):
        """What Lambda does with a queued "Event" invocation: the payload is the event."""
        return self.lambda_.invoke(json.loads(invocation["Payload"]))

    def test_a_reset_is_answered_202_with_no_mail_sent_and_one_event_invocation_queued(self):
        response = self.ask_for_a_reset()
        self.assertEqual(response.status, 202, response.text)
        self.assertEqual(ses_sent_messages(), [])
        [invocation] = self.invocations
        self.assertEqual(invocation["FunctionName"], LambdaContext.function_name)
        self.assertEqual(invocation["InvocationType"], "Event")
        payload = json.loads(invocation["Payload"])
        self.assertEqual(payload["command"], "zappa.asynchronous.route_lambda_task")
        self.assertEqual(payload["task_path"], "app.accounts.recovery.send_password_reset")
        self.assertEqual(payload["args"], [])
        # Who asked goes along, for the event the task records; never a token.
        self.assertEqual(
            payload["kwargs"],
            {
                "email": "user@example.com",
                "base_url": STAGE_URL,
                "address": CLIENT_IP,
                "user_agent": payload["kwargs"]["user_agent"],
            },
        )
        # The task issues the token: none exists yet, so none can be in the payload.
        self.assertFalse(MailToken.objects.exists())

    def test_the_invocation_sends_one_message_whose_link_holds_a_token_that_sets_a_password(self):
        self.ask_for_a_reset()
        [invocation] = self.invocations
        self.run_invocation(invocation)
        [message] = ses_sent_messages()
        self.assertEqual(set(message.destinations), {"user@example.com"})
        self.assertEqual(message.source, FROM)
        link = re.search(
            re.escape(f"{STAGE_URL}/password/reset/?token=") + r"([A-Za-z0-9_-]{43})\b",
            text_of(message.raw_data),
        )
        self.assertIsNotNone(link, text_of(message.raw_data))
        token = link[1]
        self.assertNotIn(token, invocation["Payload"])
        confirmed = self.lambda_.request(
            "POST",
            "/api/password/reset/confirm/",
            json_body={"token": token, "new_password": NEW_PASSWORD},
        )
        self.assertEqual(confirmed.status, 200, confirmed.text)
        self.assertEqual(set(confirmed.json()), {"access_token", "refresh_token"})
        self.assertTrue(User.objects.get(email="user@example.com").check_password(NEW_PASSWORD))

    def test_an_unknown_address_gets_the_same_answer_and_its_invocation_sends_nothing(self):
        def seen(response):
            headers = sorted((k, v) for k, v in response.headers.items() if k.lower() != "date")
            return response.status, headers, response.content

        known, unknown = self.ask_for_a_reset(), self.ask_for_a_reset("nobody@example.com")
        self.assertEqual(seen(unknown), seen(known))
        self.assertEqual(len(self.invocations), 2)
        self.run_invocation(self.invocations[1])
        self.assertEqual(ses_sent_messages(), [])
        self.assertFalse(MailToken.objects.exists())

    @override_settings(TASKS_IN_BACKGROUND=False)
    def test_without_background_tasks_the_message_goes_out_in_the_request_itself(self):
        response = self.ask_for_a_reset()
        self.assertEqual(response.status, 202, response.text)
        self.assertEqual(len(ses_sent_messages()), 1)
        self.assertEqual(self.invocations, [])

    @override_settings(PUBLIC_BASE_URL="https://auth.example.com")
    def test_with_public_base_url_links_point_there_whichever_url_was_asked(self):
        self.ask_for_a_reset(function_url=True)
        [invocation] = self.invocations
        payload = json.loads(invocation["Payload"])
        self.assertEqual(payload["kwargs"]["base_url"], "https://auth.example.com")

    @override_settings(DEFAULT_FROM_EMAIL="no-reply@unverified.example.net")
    def test_a_message_ses_refuses_fails_the_invocation_so_lambda_retries_it(self):
        self.ask_for_a_reset()
        [invocation] = self.invocations
        with self.assertRaises(ClientError) as refused:
            self.run_invocation(invocation)
        self.assertEqual(refused.exception.response["Error"]["Code"], "MessageRejected")
        self.assertEqual(ses_sent_messages(), [])

    def test_the_ses_backend_has_the_environments_dummy_credentials_region_and_moto_endpoint(self):
        backend = mail.get_connection()
        backend.open()
        client = backend.connection
        self.assertEqual(client.meta.region_name, REGION)
        self.assertEqual(client.meta.endpoint_url, self.endpoint)
        credentials = client._request_signer._credentials
        self.assertEqual(
            (credentials.access_key, credentials.secret_key, credentials.token),
            ("testing", "testing", "testing"),
        )
        # No quota call before each message (ses:GetSendQuota is not the role's to make).
        self.assertIsNone(backend._throttle)


class ApiGatewayEnvironTests(TestCase):
    """What Django sees of an event once apig-wsgi and ``ApiGatewayEnviron`` made it an environ."""

    def environ(self, event, **environ):
        environ = {"PATH_INFO": "/api/me/", "REMOTE_ADDR": "198.51.100.66", **environ}
        environ["apig_wsgi.full_event"] = event
        seen = {}
        ApiGatewayEnviron(lambda env, start: seen.update(env))(environ, None)
        return (
            seen.get("SCRIPT_NAME", ""),
            seen["PATH_INFO"],
            seen["REMOTE_ADDR"],
        )

    def test_the_stage_prefix_and_client_address_come_from_the_event(self):
        v1 = {"requestContext": {"stage": "dev", "identity": {"sourceIp": CLIENT_IP}}}
        v2 = {
            "version": "2.0",
            "requestContext": {"stage": "$default", "http": {"sourceIp": CLIENT_IP}},
        }
        http_api = {
            "version": "2.0",
            "requestContext": {"stage": "dev", "http": {"sourceIp": CLIENT_IP}},
        }
        cases = {
            "REST API on execute-api": (
                v1,
                {"HTTP_HOST": API_HOST},
                ("/dev", "/api/me/", CLIENT_IP),
            ),
            "REST API from the console, no host": (v1, {}, ("/dev", "/api/me/", CLIENT_IP)),
            "REST API on a custom domain": (
                v1,
                {"HTTP_HOST": "auth.example.com"},
                ("", "/api/me/", CLIENT_IP),
            ),
            "Function URL": (v2, {"HTTP_HOST": URL_HOST}, ("", "/api/me/", CLIENT_IP)),
            "HTTP API, stage in the path": (
                http_api,
                {"PATH_INFO": "/dev/api/me/"},
                ("/dev", "/api/me/", CLIENT_IP),
            ),
            "no event": ({}, {}, ("", "/api/me/", "198.51.100.66")),
        }
        for label, (event, environ, expected) in cases.items():
            with self.subTest(label):
                self.assertEqual(self.environ(event, **environ), expected)


class ApiGatewayEnvironThroughApigWsgiTests(TestCase):
    """The environ an application gets from apig-wsgi's own handler and ``ApiGatewayEnviron``."""

    def environ(self, event):
        seen = {}

        def application(environ, start_response):
            seen.update(environ)
            start_response("204 No Content", [])
            return []

        make_lambda_handler(ApiGatewayEnviron(application))(event, None)
        return seen

    def rest_api_event(self, path="/api/me/", query="", headers=None):
        headers = {"X-Forwarded-For": "203.0.113.9", **(headers or {})}
        return api_gateway_event("GET", path, query, headers, None, "dev")

    def test_without_source_ip_the_address_is_unknown_never_x_forwarded_for(self):
        def no_source_ip(context):
            del context["identity"]["sourceIp"]

        def null_identity(context):
            context["identity"] = None

        def no_identity(context):
            del context["identity"]

        for change in (no_source_ip, null_identity, no_identity):
            with self.subTest(change.__name__):
                event = self.rest_api_event()
                change(event["requestContext"])
                self.assertEqual(self.environ(event)["REMOTE_ADDR"], "")

    def test_the_source_ip_is_the_address_whatever_x_forwarded_for_says(self):
        self.assertEqual(self.environ(self.rest_api_event())["REMOTE_ADDR"], CLIENT_IP)

    def test_text_beyond_latin_1_reaches_the_application_as_pep_3333_strings(self):
        def read_off_the_wire(text):
            # What a WSGI server gives: the UTF-8 bytes read, one character per byte (PEP 3333).
            return text.encode().decode("latin-1")

        snowman = read_off_the_wire("\u2603")
        rest_api = self.environ(
            self.rest_api_event(
                path="/api/caf%C3%A9/\u2603/",
                headers={"Authorization": "Bearer \u2603", "X-Latin-1": "caf\u00e9"},
            )
        )
        function_url = self.environ(
            function_url_event("GET", "/api/", "q=\u2603", {"X-Note": "\u2603"}, None, "dev")
        )
        cases = {
            "a header": (rest_api["HTTP_AUTHORIZATION"], f"Bearer {snowman}"),
            "a header already Latin-1": (rest_api["HTTP_X_LATIN_1"], "caf\u00e9"),
            "the path, its escapes decoded once": (
                rest_api["PATH_INFO"],
                f"/api/{read_off_the_wire('caf\u00e9')}/{snowman}/",
            ),
            "a Function URL's query": (function_url["QUERY_STRING"], f"q={snowman}"),
            "a Function URL's header": (function_url["HTTP_X_NOTE"], snowman),
        }
        for label, (seen, expected) in cases.items():
            with self.subTest(label):
                self.assertEqual(seen, expected)


class ScriptPrefixStorageTests(TestCase):
    def test_static_urls_carry_the_script_prefix_of_the_request(self):
        from django.contrib.staticfiles.storage import staticfiles_storage
        from django.urls import set_script_prefix

        try:
            for prefix, expected in (("/dev/", "/dev/static/"), ("/", "/static/")):
                with self.subTest(prefix=prefix):
                    set_script_prefix(prefix)
                    self.assertTrue(
                        staticfiles_storage.url("admin/css/base.css").startswith(expected)
                    )
        finally:
            set_script_prefix("/")

    def test_function_url_host_is_allowed(self):
        self.assertIn(f".lambda-url.{REGION}.on.aws", aws_hosts(REGION))
        self.assertTrue(URL_HOST.endswith(aws_hosts(REGION)[1]))


class SnapStartHookTests(TransactionTestCase):
    """``app/aws/snapstart.py``: the init-phase work and SnapStart hooks, in this process."""

    def test_the_init_phase_work_imports_the_urlconf_and_opens_no_connection(self):
        connection.close()
        prepare_for_requests()
        self.assertIsNone(connection.connection)
        self.assertIn("app.accounts.views", sys.modules)

    def test_before_the_snapshot_every_database_connection_is_closed(self):
        connection.ensure_connection()
        before_snapshot()
        self.assertIsNone(connection.connection)

    def test_after_a_restore_random_is_reseeded_and_a_query_opens_a_fresh_connection(self):
        random.seed(7)
        state = random.getstate()
        after_restore()
        self.assertNotEqual(random.getstate(), state)
        self.assertIsNone(connection.connection)
        self.assertEqual(User.objects.count(), 0)
        self.assertIsNotNone(connection.connection)

    def test_the_hooks_are_registered_with_the_runtimes_registry(self):
        import snapshot_restore_py

        register_snapshot_hooks()
        before = [entry[0] for entry in snapshot_restore_py.get_before_snapshot()]
        after = [entry[0] for entry in snapshot_restore_py.get_after_restore()]
        self.assertIn(before_snapshot, before)
        self.assertIn(after_restore, after)
