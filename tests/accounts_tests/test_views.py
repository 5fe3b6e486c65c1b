"""The API through its URLs (``app/accounts/views.py``): status, body, ``code`` and headers."""

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import urlencode, urlsplit

import jwt
from constance.test import override_config
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.db import InterfaceError, OperationalError, connection
from django.db.models import F
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, set_script_prefix
from django.utils import timezone
from rest_framework.test import APITestCase, APITransactionTestCase

from app.accounts import events, keys, recovery, tokens, views
from app.accounts.errors import PasswordUnchanged, ReauthenticationRequired, SessionEnded
from app.accounts.models import MailToken, RefreshToken, SecurityEvent, Session, User
from devtools.mailbox import link_in, token_in
from tests.accounts_tests.factories import PASSWORD, login_throttle, make_user

BEARER = 'Bearer realm="api"'


def age_used_tokens(*, seconds: int) -> None:
    """Move every used token's first use ``seconds`` into the past (past the reuse interval)."""
    RefreshToken.objects.exclude(used_at=None).update(
        used_at=F("used_at") - timedelta(seconds=seconds)
    )


class ApiTestCase(APITestCase):
    def post(self, name, body, **extra):
        return self.client.post(reverse(name), body, format="json", **extra)

    def login(self, email="user@example.com", password=PASSWORD):
        response = self.post("login", {"email": email, "password": password})
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def assertError(self, response, status, code):
        self.assertEqual(response.status_code, status, response.content)
        self.assertEqual(response["Content-Type"], "application/json")
        body = response.json()
        self.assertEqual(body["code"], code)
        self.assertIsInstance(body["detail"], str)
        return body

    def assertFieldError(self, response, field, code):
        body = self.assertError(response, 400, "invalid")
        self.assertIn(code, [error["code"] for error in body["fields"][field]], body)


class RegisterTests(ApiTestCase):
    @override_settings(REGISTER_THROTTLE={"window_seconds": 3600, "per_address": 2})
    def test_registrations_past_the_limit_from_one_address_return_429(self):
        for number in range(2):
            body = {"email": f"u{number}@example.com", "password": PASSWORD}
            self.assertEqual(self.post("register", body).status_code, 201)
        response = self.post("register", {"email": "u9@example.com", "password": PASSWORD})
        body = self.assertError(response, 429, "throttled")
        self.assertIn("Too many registrations from this address.", body["detail"])
        self.assertTrue(1 <= int(response["Retry-After"]) <= 3600)
        self.assertEqual(User.objects.count(), 2)

    def test_register_returns_201_with_id_and_email(self):
        response = self.post("register", {"password": PASSWORD, "email": "user@example.com"})
        self.assertEqual(response.status_code, 201)
        user = User.objects.get()
        self.assertEqual(response.json(), {"id": user.pk, "email": "user@example.com"})

    def test_register_with_an_email_taken_in_any_case_returns_400_unique(self):
        make_user(email="user@example.com")
        response = self.post("register", {"password": PASSWORD, "email": "USER@example.com"})
        self.assertFieldError(response, "email", "unique")

    def test_register_with_a_common_password_returns_400(self):
        response = self.post("register", {"password": "password", "email": "user@example.com"})
        self.assertFieldError(response, "password", "password_too_common")

    def test_register_with_a_password_like_the_email_returns_400(self):
        response = self.post(
            "register", {"password": "johnsmith.example", "email": "johnsmith@example.com"}
        )
        self.assertFieldError(response, "password", "password_too_similar")

    def test_register_with_bad_fields_returns_400_naming_each(self):
        cases = [
            ({"password": PASSWORD}, "email", "required"),
            ({"email": "user@example.com"}, "password", "required"),
            ({"email": "not-an-email", "password": PASSWORD}, "email", "invalid"),
            ({"email": 12, "password": PASSWORD}, "email", "invalid"),
            ({"email": "user@example.com", "password": 12345678901}, "password", "invalid"),
            ({"email": "user@example.com", "password": None}, "password", "null"),
            ({"email": ["user@example.com"], "password": PASSWORD}, "email", "invalid"),
            ({"email": "user@example.com", "password": "x" * 129}, "password", "max_length"),
        ]
        for body, field, code in cases:
            with self.subTest(body=body):
                self.assertFieldError(self.post("register", body), field, code)
        self.assertFalse(User.objects.exists())

    def test_register_with_a_body_that_is_not_an_object_returns_400(self):
        response = self.post("register", ["user@example.com", PASSWORD])
        self.assertFieldError(response, "non_field_errors", "invalid")


class LoginTests(ApiTestCase):
    def setUp(self):
        self.user = make_user()

    def test_login_returns_an_access_and_a_refresh_token(self):
        body = self.login()
        self.assertEqual(set(body), {"access_token", "refresh_token"})
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        self.assertEqual(claims["user_id"], self.user.pk)
        self.assertEqual(claims["exp"] - claims["iat"], 30)
        tokens.canonical_refresh_token(body["refresh_token"])

    def test_wrong_password_and_unknown_email_get_the_same_401(self):
        wrong = self.post("login", {"email": "user@example.com", "password": "wrong-pass-1"})
        unknown = self.post("login", {"email": "nobody@example.com", "password": PASSWORD})
        self.assertError(wrong, 401, "invalid_credentials")
        self.assertEqual(wrong.content, unknown.content)
        self.assertEqual(wrong["WWW-Authenticate"], BEARER)
        self.assertEqual(unknown["WWW-Authenticate"], BEARER)

    def test_inactive_user_cannot_log_in(self):
        User.objects.filter(pk=self.user.pk).update(is_active=False)
        response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertError(response, 401, "invalid_credentials")

    def test_login_without_a_password_returns_400(self):
        response = self.post("login", {"email": "user@example.com"})
        self.assertFieldError(response, "password", "required")

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=2))
    def test_too_many_failed_logins_return_429_saying_once_when_to_retry(self):
        for _ in range(2):
            self.post("login", {"email": "user@example.com", "password": "wrong-pass-1"})
        response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        body = self.assertError(response, 429, "throttled")
        wait = int(response["Retry-After"])
        self.assertTrue(1 <= wait <= 300)
        self.assertEqual(body["detail"], f"Too many failed logins. Try again in {wait} seconds.")

    def test_login_answers_with_no_store_so_no_cache_keeps_the_tokens(self):
        response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertEqual(response["Cache-Control"], "no-store")
        self.assertEqual(response["Pragma"], "no-cache")

    def test_a_login_with_an_invisible_character_is_400_and_never_a_twin_account(self):
        response = self.post("login", {"email": "user@exa\u200bmple.com", "password": PASSWORD})
        self.assertFieldError(response, "email", "invalid")

    @override_config(ACCESS_TOKEN_LIFETIME=120)
    def test_a_changed_access_lifetime_applies_to_the_next_login(self):
        claims = jwt.decode(self.login()["access_token"], options={"verify_signature": False})
        self.assertEqual(claims["exp"] - claims["iat"], 120)


class RefreshTests(ApiTestCase):
    def setUp(self):
        make_user()
        self.pair = self.login()

    def refresh(self, token):
        return self.post("refresh", {"refresh_token": token})

    def test_refresh_answers_with_no_store_so_no_cache_keeps_the_tokens(self):
        response = self.refresh(self.pair["refresh_token"])
        self.assertEqual(response["Cache-Control"], "no-store")

    def test_refresh_returns_a_new_pair(self):
        response = self.refresh(self.pair["refresh_token"])
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(set(body), {"access_token", "refresh_token"})
        self.assertNotEqual(body["refresh_token"], self.pair["refresh_token"])
        self.assertEqual(
            self.client.get(
                reverse("me"), HTTP_AUTHORIZATION=f"Bearer {body['access_token']}"
            ).status_code,
            200,
        )

    def test_refresh_with_a_used_token_returns_401_and_revokes_the_new_one(self):
        new = self.refresh(self.pair["refresh_token"]).json()
        age_used_tokens(seconds=11)
        reused = self.refresh(self.pair["refresh_token"])
        self.assertError(reused, 401, "refresh_token_reused")
        self.assertEqual(reused["WWW-Authenticate"], BEARER)
        self.assertError(self.refresh(new["refresh_token"]), 401, "invalid_refresh_token")

    def test_a_refresh_retried_within_the_reuse_interval_gets_the_same_refresh_token(self):
        first = self.refresh(self.pair["refresh_token"]).json()
        retry = self.refresh(self.pair["refresh_token"])
        self.assertEqual(retry.status_code, 200, retry.content)
        self.assertEqual(retry.json()["refresh_token"], first["refresh_token"])
        self.assertEqual(self.refresh(first["refresh_token"]).status_code, 200)

    def test_refresh_with_a_revoked_token_returns_401(self):
        self.post("logout", {"refresh_token": self.pair["refresh_token"]})
        self.assertError(self.refresh(self.pair["refresh_token"]), 401, "invalid_refresh_token")

    def test_refresh_with_an_unknown_token_returns_401(self):
        self.assertError(self.refresh(tokens.new_refresh_token()), 401, "invalid_refresh_token")

    def test_refresh_with_an_expired_token_returns_401(self):
        RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        self.assertError(self.refresh(self.pair["refresh_token"]), 401, "refresh_token_expired")

    def test_refresh_for_an_inactive_user_returns_401(self):
        User.objects.update(is_active=False)
        self.assertError(self.refresh(self.pair["refresh_token"]), 401, "invalid_refresh_token")

    def test_refresh_with_a_missing_or_malformed_token_returns_400(self):
        cases = [
            ({}, "required"),
            ({"refresh_token": "not-a-uuid"}, "invalid"),
            ({"refresh_token": 12}, "invalid"),
            ({"refresh_token": None}, "null"),
            ({"refresh_token": ""}, "blank"),
        ]
        for body, code in cases:
            with self.subTest(body=body):
                self.assertFieldError(self.post("refresh", body), "refresh_token", code)


class LogoutTests(ApiTestCase):
    def setUp(self):
        make_user()
        self.pair = self.login()

    def test_logout_returns_the_documented_body_and_ends_the_session(self):
        response = self.post("logout", {"refresh_token": self.pair["refresh_token"]})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"success": "User logged out."})
        self.assertFalse(Session.objects.filter(revoked_at=None).exists())
        self.assertEqual(self.post("refresh", self.pair).status_code, 401)

    def test_logout_with_an_unknown_or_already_revoked_token_returns_200(self):
        self.post("logout", {"refresh_token": self.pair["refresh_token"]})
        for token in (self.pair["refresh_token"], tokens.new_refresh_token()):
            with self.subTest(token=token):
                response = self.post("logout", {"refresh_token": token})
                self.assertEqual(response.json(), {"success": "User logged out."})

    def test_logout_with_a_missing_or_malformed_token_returns_400(self):
        for body in ({}, {"refresh_token": "nope"}):
            with self.subTest(body=body):
                self.assertError(self.post("logout", body), 400, "invalid")


class MeTests(ApiTestCase):
    def setUp(self):
        self.user = make_user()
        self.access = self.login()["access_token"]

    def get_me(self, authorization=None):
        authorization = authorization or f"Bearer {self.access}"
        return self.client.get(reverse("me"), HTTP_AUTHORIZATION=authorization)

    def put_me(self, body, method="put"):
        return getattr(self.client, method)(
            reverse("me"), body, format="json", HTTP_AUTHORIZATION=f"Bearer {self.access}"
        )

    def test_get_me_returns_id_username_and_email_in_one_query(self):
        with self.assertNumQueries(1):
            response = self.get_me()
        self.assertEqual(
            response.json(), {"id": self.user.pk, "username": "", "email": "user@example.com"}
        )

    def test_put_me_with_username_updates_only_the_username(self):
        response = self.put_me({"username": "John Smith"})
        self.assertEqual(
            response.json(),
            {"id": self.user.pk, "username": "John Smith", "email": "user@example.com"},
        )

    def test_put_me_with_email_updates_only_the_email(self):
        response = self.put_me({"email": "newuser@example.com"})
        self.assertEqual(
            response.json(), {"id": self.user.pk, "username": "", "email": "newuser@example.com"}
        )
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "newuser@example.com")

    def test_patch_me_updates_like_put(self):
        response = self.put_me({"username": "Jane"}, method="patch")
        self.assertEqual(response.json()["username"], "Jane")

    def test_put_me_cannot_change_the_id(self):
        response = self.put_me({"id": 999, "username": "x"})
        self.assertEqual(response.json()["id"], self.user.pk)
        self.assertTrue(User.objects.filter(pk=self.user.pk).exists())

    def test_put_me_with_an_email_taken_in_another_case_returns_400_unique(self):
        make_user(email="taken@example.com")
        self.assertFieldError(self.put_me({"email": "Taken@Example.com"}), "email", "unique")

    def test_put_me_with_bad_fields_returns_400(self):
        cases = [
            ({"email": "not-an-email"}, "email", "invalid"),
            ({"username": 5}, "username", "invalid"),
            ({"username": "x" * 151}, "username", "max_length"),
        ]
        for body, field, code in cases:
            with self.subTest(body=body):
                self.assertFieldError(self.put_me(body), field, code)

    def test_me_without_a_bearer_token_returns_401_with_a_bare_challenge(self):
        token = self.login()["access_token"]
        for authorization in (None, "Basic dXNlcjpwYXNz", "Token abc", token, f"Token {token}"):
            with self.subTest(authorization=authorization):
                extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
                response = self.client.get(reverse("me"), **extra)
                self.assertError(response, 401, "not_authenticated")
                self.assertEqual(response["WWW-Authenticate"], BEARER)

    def test_me_with_a_bad_token_returns_401_invalid_token(self):
        expired = tokens.issue_access_token(
            user_id=self.user.pk,
            lifetime=timedelta(seconds=30),
            now=timezone.now() - timedelta(minutes=5),
        )
        foreign = jwt.encode(
            {"token_type": "access", "user_id": self.user.pk, "sub": str(self.user.pk)},
            "k" * 40,
            algorithm="HS256",
        )
        cases = {
            "malformed": "Bearer abc",
            "tampered": f"Bearer {self.access[:-3]}xyz",
            "expired": f"Bearer {expired}",
            "foreign key": f"Bearer {foreign}",
            "refresh token in its place": f"Bearer {tokens.new_refresh_token()}",
            "two tokens": f"Bearer {self.access} {self.access}",
            "scheme only": "Bearer",
        }
        for label, authorization in cases.items():
            with self.subTest(label):
                response = self.get_me(authorization)
                self.assertError(response, 401, "invalid_token")
                self.assertTrue(
                    response["WWW-Authenticate"].startswith(f'{BEARER}, error="invalid_token"')
                )

    def test_clock_skew_within_the_leeway_is_tolerated_and_beyond_it_refused(self):
        leeway = settings.JWT_LEEWAY
        second = timedelta(seconds=1)
        now = timezone.now()
        lifetime = timedelta(seconds=30)
        cases = [
            ("issued 3 s in the future", now + leeway - 2 * second, 200),
            ("issued past the leeway in the future", now + leeway + 2 * second, 401),
            ("expired 3 s ago", now - lifetime - leeway + 2 * second, 200),
            ("expired past the leeway", now - lifetime - leeway - 2 * second, 401),
        ]
        for label, issued_at, status in cases:
            with self.subTest(label):
                token = tokens.issue_access_token(
                    user_id=self.user.pk, lifetime=lifetime, now=issued_at
                )
                self.assertEqual(self.get_me(f"Bearer {token}").status_code, status)

    def test_me_for_a_user_deleted_after_login_returns_401(self):
        User.objects.all().delete()
        self.assertError(self.get_me(), 401, "invalid_token")

    def test_me_with_a_token_signed_with_the_settings_key_by_hand_works(self):
        now = int(timezone.now().timestamp())
        token = jwt.encode(
            {
                "iss": settings.JWT_ISSUER,
                "aud": settings.JWT_AUDIENCE,
                "token_type": "access",
                "user_id": self.user.pk,
                "sub": str(self.user.pk),
                "iat": now,
                "nbf": now,
                "exp": now + 30,
                "auth_time": now,
                "jti": "x",
            },
            keys.private_key(settings.JWT_PRIVATE_KEY).key,
            algorithm="RS256",
            headers={"kid": keys.private_key(settings.JWT_PRIVATE_KEY).public.kid},
        )
        self.assertEqual(self.get_me(f"Bearer {token}").status_code, 200)


class EmailChangeVerificationTests(ApiTestCase):
    """Found by the race of a verification against an e-mail change
    (``test_recovery_concurrency.py``): it happens without any race."""

    setUp = MeTests.setUp
    put_me = MeTests.put_me

    def test_a_verified_user_changing_the_email_leaves_the_new_address_unverified(self):
        User.objects.filter(pk=self.user.pk).update(email_verified_at=timezone.now())
        self.assertEqual(self.put_me({"email": "newuser@example.com"}).status_code, 200)
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "newuser@example.com")
        self.assertIsNone(self.user.email_verified_at)

    def test_a_verified_user_changing_the_email_gets_a_verification_link_at_the_new_address(
        self,
    ):
        User.objects.filter(pk=self.user.pk).update(email_verified_at=timezone.now())
        mail.outbox.clear()
        self.assertEqual(self.put_me({"email": "newuser@example.com"}).status_code, 200)
        self.assertIn(["newuser@example.com"], [message.to for message in mail.outbox])


class SessionFlowTests(ApiTestCase):
    def test_the_readme_curl_session_works_in_order(self):
        email = "user@example.com"
        registered = self.post("register", {"password": PASSWORD, "email": email}).json()
        pair = self.login(email)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {pair['access_token']}"}
        me = self.client.get(reverse("me"), **auth).json()
        self.assertEqual(me, {"id": registered["id"], "username": "", "email": email})
        updated = self.client.put(reverse("me"), {"username": "John Smith"}, format="json", **auth)
        self.assertEqual(updated.json()["username"], "John Smith")
        renewed = self.post("refresh", {"refresh_token": pair["refresh_token"]}).json()
        logout = self.post("logout", {"refresh_token": renewed["refresh_token"]})
        self.assertEqual(logout.json(), {"success": "User logged out."})
        after = self.post("refresh", {"refresh_token": renewed["refresh_token"]})
        self.assertError(after, 401, "invalid_refresh_token")


class LookalikeEmailTests(ApiTestCase):
    """Spellings a person reads as one address never become a second account."""

    def test_no_lookalike_of_a_registered_address_creates_a_second_account(self):
        cases = {
            "user@example.com": {
                "upper case": "USER@Example.COM",
                "zero-width space in the domain": "user@exa\u200bmple.com",
                "fullwidth domain": "user@ｅｘａｍｐｌｅ.com",
            },
            "sam@example.com": {"long s": "\u017fam@example.com"},
            "info@example.com": {
                "dotless i": "\u0131nfo@example.com",
                "capital I with dot": "\u0130nfo@example.com",
            },
            "kate@example.com": {"kelvin sign": "\u212aate@example.com"},
            "user@bücher.example": {"punycode domain": "user@xn--bcher-kva.example"},
        }
        for original, lookalikes in cases.items():
            response = self.post("register", {"email": original, "password": PASSWORD})
            self.assertEqual(response.status_code, 201, response.content)
            for label, lookalike in lookalikes.items():
                with self.subTest(label):
                    response = self.post("register", {"email": lookalike, "password": PASSWORD})
                    self.assertEqual(response.status_code, 400, response.content)
        self.assertEqual(User.objects.count(), len(cases))

    def test_every_registered_address_logs_in_exactly_as_typed(self):
        typed = [
            "Mixed.Case+tag@Example.COM",
            "user@BÜCHER.example",
            "\u017fam@example.com",
            "\u212aate@example.com",
            "ｆｕｌｌ@ｗｉｄｔｈ.example",
        ]
        for email in typed:
            with self.subTest(email=email):
                registered = self.post("register", {"email": email, "password": PASSWORD})
                self.assertEqual(registered.status_code, 201, registered.content)
                self.login(email=email)
                self.login(email=email.upper())


class MalformedRequestTests(ApiTestCase):
    def test_an_unexpected_error_is_a_json_500_that_tells_nothing_of_it(self):
        self.client.raise_request_exception = False
        with mock.patch(
            "app.accounts.services.rotate", side_effect=RuntimeError("secret internals")
        ):
            response = self.post("refresh", {"refresh_token": tokens.new_refresh_token()})
        self.assertError(response, 500, "server_error")
        self.assertNotIn("secret internals", response.content.decode())

    def test_a_closed_database_connection_is_a_json_503(self):
        with mock.patch(
            "app.accounts.services.rotate", side_effect=InterfaceError("connection already closed")
        ):
            response = self.post("refresh", {"refresh_token": tokens.new_refresh_token()})
        self.assertError(response, 503, "service_unavailable")
        self.assertNotIn("closed", response.content.decode())

    def test_a_lost_database_logs_its_cause_once_and_never_in_the_answer(self):
        error = OperationalError('connection to server at "db" failed: Connection refused\nmore')
        with (
            mock.patch("app.accounts.services.rotate", side_effect=error),
            self.assertLogs("app.error_handlers", level="ERROR") as logged,
        ):
            response = self.post("refresh", {"refresh_token": tokens.new_refresh_token()})
        self.assertError(response, 503, "service_unavailable")
        self.assertEqual(
            logged.output,
            [
                "ERROR:app.error_handlers:The database is unavailable: "
                'connection to server at "db" failed: Connection refused'
            ],
        )

    def test_malformed_json_returns_400_parse_error(self):
        response = self.client.post(
            reverse("login"), data="{not json", content_type="application/json"
        )
        self.assertError(response, 400, "parse_error")

    def test_a_form_encoded_body_returns_415(self):
        response = self.client.post(reverse("login"), {"email": "a@b.c", "password": "x"})
        self.assertError(response, 415, "unsupported_media_type")

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
    def test_an_oversized_body_returns_413(self):
        body = json.dumps({"email": "a@example.com", "password": "x" * 2000})
        response = self.client.post(reverse("register"), data=body, content_type="application/json")
        self.assertError(response, 413, "payload_too_large")

    def test_an_unknown_api_path_returns_a_json_404(self):
        for path in ("/api/nope/", "/api/login"):
            with self.subTest(path=path):
                self.assertError(self.client.post(path, {}, format="json"), 404, "not_found")

    def test_a_wrong_method_returns_405(self):
        self.assertError(self.client.get(reverse("login")), 405, "method_not_allowed")

    def test_a_browser_opening_a_post_endpoint_gets_its_form_not_a_405(self):
        response = self.client.get(reverse("register"), HTTP_ACCEPT="text/html")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Register")
        self.assertContains(response, '<form action="/api/register/"')

    def test_the_api_root_lists_every_endpoint(self):
        response = self.client.get(reverse("api-root"), HTTP_ACCEPT="application/json")
        names = [
            *("register", "login", "refresh", "logout", "logout-all", "me", "password"),
            *("sessions", "me-email", "me-events", "password-reset", "password-reset-confirm"),
            *("email-verify", "email-verify-resend", "email-revert", "health"),
        ]
        expected = {name: f"http://testserver{reverse(name)}" for name in names}
        self.assertEqual(response.json(), expected)


class SessionsApiTests(ApiTestCase):
    def setUp(self):
        self.user = make_user()
        self.first = self.login()
        self.second = self.login()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.second['access_token']}")

    def test_access_tokens_name_their_session_as_sid(self):
        claims = jwt.decode(self.second["access_token"], options={"verify_signature": False})
        session = Session.objects.get(
            tokens__digest=tokens.refresh_token_digest(self.second["refresh_token"])
        )
        self.assertEqual(claims["sid"], str(session.pk))

    def test_listing_shows_the_callers_live_sessions_newest_first_and_which_is_current(self):
        make_user(email="other@example.com")
        self.login(email="other@example.com")
        self.post("logout", {"refresh_token": self.first["refresh_token"]})
        self.login()
        response = self.client.get(reverse("sessions"))
        self.assertEqual(response.status_code, 200)
        sessions = response.json()["results"]
        self.assertEqual(len(sessions), 2)
        self.assertEqual(
            set(sessions[0]),
            {
                "id",
                "created_at",
                "last_used_at",
                "expires_at",
                "user_agent",
                "ip_address",
                "current",
            },
        )
        self.assertEqual([each["current"] for each in sessions], [False, True])
        self.assertGreaterEqual(sessions[0]["created_at"], sessions[1]["created_at"])
        self.assertNotIn(self.second["refresh_token"], response.content.decode())

    def test_ending_one_session_stops_its_refresh_token_and_leaves_the_others(self):
        first = Session.objects.get(
            tokens__digest=tokens.refresh_token_digest(self.first["refresh_token"])
        )
        response = self.client.delete(reverse("session", args=[first.pk]))
        self.assertEqual(response.status_code, 204)
        self.assertError(
            self.post("refresh", {"refresh_token": self.first["refresh_token"]}),
            401,
            "invalid_refresh_token",
        )
        self.assertEqual(
            self.post("refresh", {"refresh_token": self.second["refresh_token"]}).status_code, 200
        )

    def test_another_users_session_or_an_unknown_one_is_the_same_404(self):
        make_user(email="other@example.com")
        theirs = self.login(email="other@example.com")
        session = Session.objects.get(
            tokens__digest=tokens.refresh_token_digest(theirs["refresh_token"])
        )
        foreign = self.client.delete(reverse("session", args=[session.pk]))
        unknown = self.client.delete(
            reverse("session", args=["00000000-0000-4000-8000-000000000000"])
        )
        self.assertError(foreign, 404, "not_found")
        self.assertEqual(foreign.content, unknown.content)
        self.assertEqual(
            self.post("refresh", {"refresh_token": theirs["refresh_token"]}).status_code, 200
        )

    def test_logout_everywhere_ends_every_session_of_the_caller(self):
        response = self.client.post(reverse("logout-all"))
        self.assertEqual(response.json(), {"success": "User logged out of every session."})
        for pair in (self.first, self.second):
            with self.subTest(pair=pair["refresh_token"]):
                self.assertEqual(
                    self.post("refresh", {"refresh_token": pair["refresh_token"]}).status_code, 401
                )

    def test_the_list_comes_in_pages_of_the_size_asked_for_within_the_maximum(self):
        for _ in range(3):
            self.login()
        page = self.client.get(reverse("sessions"), {"page_size": 2}).json()
        self.assertIsNone(page["previous"])
        pages = [page["results"]]
        while page["next"]:
            page = self.client.get(page["next"]).json()
            pages.append(page["results"])
        self.assertEqual([len(results) for results in pages], [2, 2, 1])
        ids = [each["id"] for results in pages for each in results]
        self.assertEqual(len(set(ids)), 5)
        with override_settings(SESSIONS_MAX_PAGE_SIZE=3):
            capped = self.client.get(reverse("sessions"), {"page_size": 1000}).json()
        self.assertEqual(len(capped["results"]), 3)

    def test_a_bad_cursor_is_a_json_404(self):
        def cursor(**fields):
            return base64.b64encode(urlencode(fields).encode()).decode()

        cases = {
            "not base64": "not-a-cursor",
            "a position that is no date": cursor(p="garbage"),
            "a NUL in the position": cursor(p="2024-01-01\x00"),
            "a year past 9999": cursor(p="99999-01-01"),
        }
        for label, value in cases.items():
            with self.subTest(label):
                response = self.client.get(reverse("sessions"), {"cursor": value})
                self.assertError(response, 404, "not_found")

    @override_settings(SESSIONS_PER_USER=3)
    def test_a_login_past_the_session_limit_ends_the_least_recently_used_session(self):
        # The first session was refreshed last, so the second is the least recently used.
        self.post("refresh", {"refresh_token": self.first["refresh_token"]})
        third = self.login()
        self.login()
        live = set(Session.objects.filter(revoked_at=None).values_list("pk", flat=True))
        self.assertEqual(len(live), 3)
        second = Session.objects.get(
            tokens__digest=tokens.refresh_token_digest(self.second["refresh_token"])
        )
        self.assertIsNotNone(second.revoked_at)
        self.assertIn(
            Session.objects.get(
                tokens__digest=tokens.refresh_token_digest(third["refresh_token"])
            ).pk,
            live,
        )

    def test_the_session_endpoints_need_a_bearer_token(self):
        self.client.credentials()
        for response in (
            self.client.get(reverse("sessions")),
            self.client.post(reverse("logout-all")),
            self.client.delete(reverse("session", args=["00000000-0000-4000-8000-000000000000"])),
        ):
            with self.subTest(path=response.wsgi_request.path):
                self.assertError(response, 401, "not_authenticated")


class EventsApiTests(ApiTestCase):
    """``GET /api/me/events/``: the caller's own account's events, newest first, in pages.

    The services may record events of their own (a login's); the tests compare with what the
    table holds for the caller rather than count rows."""

    FIELDS = {"id", "event", "reason", "at", "session_id", "client_address", "user_agent"}

    def setUp(self):
        self.user = make_user()
        self.other = make_user(email="other@example.com")
        self.pair = self.login()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.pair['access_token']}")

    def record(self, name=events.Name.LOGIN_SUCCESS, user=None, **fields):
        (row,) = events.record(
            [events.event(name, now=timezone.now(), user_id=(user or self.user).pk, **fields)]
        )
        return row

    def own_ids(self):
        return list(
            SecurityEvent.objects.filter(user=self.user)
            .order_by("-id")
            .values_list("id", flat=True)
        )

    def all_pages(self, **query):
        page = self.client.get(reverse("me-events"), query).json()
        pages = [page["results"]]
        while page["next"]:
            page = self.client.get(page["next"]).json()
            pages.append(page["results"])
        return pages

    def test_the_list_shows_the_callers_events_newest_first_with_their_fields(self):
        session_id = "3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90"
        older = self.record(events.Name.LOGIN_FAIL, reason=events.Reason.WRONG_PASSWORD)
        newer = self.record(
            events.Name.SESSION_EXPIRED,
            reason=events.Reason.ENDED_BY_USER,
            session_id=session_id,
            address="203.0.113.7",
            user_agent="Mozilla/5.0",
            email="user@example.com",
        )
        response = self.client.get(reverse("me-events"))
        self.assertEqual(response.status_code, 200, response.content)
        results = response.json()["results"]
        self.assertEqual([each["id"] for each in results], self.own_ids())
        shown = {each["id"]: each for each in results}
        self.assertEqual(set(shown[newer.pk]), self.FIELDS)
        self.assertEqual(
            shown[newer.pk],
            {
                "id": newer.pk,
                "event": "session_expired",
                "reason": "ended_by_user",
                "at": shown[newer.pk]["at"],
                "session_id": session_id,
                "client_address": "203.0.113.7",
                "user_agent": "Mozilla/5.0",
            },
        )
        self.assertEqual(datetime.fromisoformat(shown[newer.pk]["at"]), newer.at)
        self.assertEqual(
            (shown[older.pk]["reason"], shown[older.pk]["session_id"]),
            ("wrong_password", None),
        )
        self.assertIsNone(shown[older.pk]["client_address"])
        self.assertLess(results.index(shown[newer.pk]), results.index(shown[older.pk]))

    def test_another_accounts_events_and_those_of_no_account_never_appear(self):
        theirs = self.record(events.Name.LOGIN_SUCCESS, user=self.other, address="198.51.100.9")
        (unknown,) = events.record(
            [
                events.event(
                    events.Name.LOGIN_FAIL,
                    now=timezone.now(),
                    reason=events.Reason.UNKNOWN_ACCOUNT,
                    email="typed-by-someone@example.com",
                )
            ]
        )
        mine = self.record()
        response = self.client.get(reverse("me-events"), {"page_size": 100})
        ids = [each["id"] for each in response.json()["results"]]
        self.assertIn(mine.pk, ids)
        self.assertNotIn(theirs.pk, ids)
        self.assertNotIn(unknown.pk, ids)
        self.assertEqual(ids, self.own_ids())
        body = response.content.decode()
        self.assertNotIn("typed-by-someone@example.com", body)
        self.assertNotIn("198.51.100.9", body)

    def test_no_email_is_shown_not_even_the_accounts_own(self):
        self.record(email="user@example.com")
        response = self.client.get(reverse("me-events"))
        self.assertNotIn("user@example.com", response.content.decode())
        for each in response.json()["results"]:
            with self.subTest(id=each["id"]):
                self.assertEqual(set(each), self.FIELDS)

    def test_the_list_comes_in_pages_of_the_size_asked_for_within_the_maximum(self):
        for _ in range(5):
            self.record()
        pages = self.all_pages(page_size=2)
        ids = [each["id"] for results in pages for each in results]
        self.assertEqual(ids, self.own_ids())
        self.assertTrue(all(len(results) == 2 for results in pages[:-1]))
        with override_settings(EVENTS_MAX_PAGE_SIZE=3):
            capped = self.client.get(reverse("me-events"), {"page_size": 1000}).json()
        self.assertEqual(len(capped["results"]), 3)
        with override_settings(EVENTS_PAGE_SIZE=1):
            default = self.client.get(reverse("me-events")).json()
        self.assertEqual(len(default["results"]), 1)

    def test_a_page_costs_the_same_two_queries_however_many_events_there_are(self):
        for count in (1, 30):
            SecurityEvent.objects.bulk_create(
                events.event(events.Name.LOGIN_SUCCESS, now=timezone.now(), user_id=self.user.pk)
                for _ in range(count)
            )
            with self.subTest(rows=count), self.assertNumQueries(2):
                self.assertEqual(self.client.get(reverse("me-events")).status_code, 200)

    def test_a_bad_cursor_is_a_json_404(self):
        def cursor(**fields):
            return base64.b64encode(urlencode(fields).encode()).decode()

        cases = {
            "not base64": "not-a-cursor",
            "a position that is no integer": cursor(p="garbage"),
            "a date for a position": cursor(p="2024-01-01"),
            "a negative position": cursor(p="-1"),
            "a fraction": cursor(p="1.5"),
            "a NUL in the position": cursor(p="12\x00"),
            "digits past a bigint": cursor(p="9" * 30),
            "digits of another script": cursor(p="\u0663"),
        }
        for label, value in cases.items():
            with self.subTest(label):
                response = self.client.get(reverse("me-events"), {"cursor": value})
                self.assertError(response, 404, "not_found")

    def test_a_token_of_an_ended_session_gets_401(self):
        self.post("logout", {"refresh_token": self.pair["refresh_token"]})
        body = self.assertError(self.client.get(reverse("me-events")), 401, "invalid_token")
        self.assertEqual(body["detail"], SessionEnded.default_message)

    def test_the_list_needs_a_bearer_token(self):
        self.client.credentials()
        self.assertError(self.client.get(reverse("me-events")), 401, "not_authenticated")


class PasswordChangeTests(ApiTestCase):
    def setUp(self):
        self.user = make_user()
        self.other = self.login()
        self.mine = self.login()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.mine['access_token']}")

    def change(self, current=PASSWORD, new="another-long-phrase-42"):
        return self.post("password", {"current_password": current, "new_password": new})

    def test_a_change_ends_every_other_session_and_keeps_the_caller_logged_in(self):
        response = self.change()
        self.assertEqual(response.status_code, 200, response.content)
        fresh = response.json()
        self.assertEqual(response["Cache-Control"], "no-store")
        for old in (self.other, self.mine):
            with self.subTest(old=old["refresh_token"]):
                self.assertEqual(
                    self.post("refresh", {"refresh_token": old["refresh_token"]}).status_code, 401
                )
        self.assertEqual(
            self.post("refresh", {"refresh_token": fresh["refresh_token"]}).status_code, 200
        )
        self.assertEqual(
            self.post("login", {"email": "user@example.com", "password": PASSWORD}).status_code, 401
        )
        self.login(password="another-long-phrase-42")

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=2))
    def test_a_wrong_current_password_is_400_and_counts_toward_the_login_throttle(self):
        for _ in range(2):
            self.assertFieldError(
                self.change(current="not-the-password"), "current_password", "wrong_password"
            )
        self.assertError(self.change(), 429, "throttled")
        self.assertEqual(
            self.post("login", {"email": "user@example.com", "password": PASSWORD}).status_code, 429
        )

    def test_a_new_password_equal_to_the_current_one_is_refused(self):
        response = self.change(new=PASSWORD)
        body = self.assertError(response, 400, "invalid")
        self.assertEqual(
            body["fields"]["new_password"],
            [{"code": "password_rejected", "message": PasswordUnchanged.default_message}],
        )
        self.assertEqual(
            self.post("refresh", {"refresh_token": self.other["refresh_token"]}).status_code, 200
        )

    def test_a_new_password_the_validators_refuse_is_400_and_changes_nothing(self):
        self.assertFieldError(self.change(new="password"), "new_password", "password_rejected")
        self.assertEqual(
            self.post("refresh", {"refresh_token": self.other["refresh_token"]}).status_code, 200
        )


class EndedSessionTests(ApiTestCase):
    """An access token outlives its session by up to its lifetime: meanwhile it may read the
    profile, never act on sessions, the password or the e-mail."""

    def setUp(self):
        self.user = make_user()
        self.pair = self.login()
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.pair['access_token']}")
        self.post("logout", {"refresh_token": self.pair["refresh_token"]})
        self.live = self.login()

    def test_a_token_of_an_ended_session_gets_401_wherever_sessions_or_credentials_change(self):
        live_session = Session.objects.get(revoked_at=None)
        calls = {
            "sessions list": lambda: self.client.get(reverse("sessions")),
            "session delete": lambda: self.client.delete(
                reverse("session", args=[live_session.pk])
            ),
            "logout everywhere": lambda: self.client.post(reverse("logout-all")),
            "password change": lambda: self.post(
                "password", {"current_password": PASSWORD, "new_password": "another-phrase-42"}
            ),
            "e-mail change": lambda: self.client.put(
                reverse("me"), {"email": "thief@example.com"}, format="json"
            ),
        }
        for label, call in calls.items():
            with self.subTest(label):
                body = self.assertError(call(), 401, "invalid_token")
                self.assertEqual(body["detail"], SessionEnded.default_message)
        self.assertIsNone(Session.objects.get(pk=live_session.pk).revoked_at)
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")
        self.login(password=PASSWORD)

    def test_it_may_still_read_the_profile_in_one_query_and_change_the_display_name(self):
        with self.assertNumQueries(1):
            self.assertEqual(self.client.get(reverse("me")).status_code, 200)
        response = self.client.put(reverse("me"), {"username": "Jo"}, format="json")
        self.assertEqual(response.status_code, 200, response.content)


class StepUpTests(ApiTestCase):
    """RFC 9470: an e-mail change needs a password checked within the window, or the password."""

    def setUp(self):
        self.user = make_user()
        pair = self.login()
        self.session = Session.objects.get()
        self.old = timezone.now() - timedelta(minutes=11)
        self.access = tokens.issue_access_token(
            user_id=self.user.pk,
            lifetime=timedelta(seconds=30),
            now=timezone.now(),
            authenticated_at=self.old,
            session_id=str(self.session.pk),
        )
        self.fresh = pair["access_token"]

    def change(self, body, access=None):
        return self.client.put(
            reverse("me"), body, format="json", HTTP_AUTHORIZATION=f"Bearer {access or self.access}"
        )

    def test_an_old_password_check_gets_the_rfc_9470_challenge_and_changes_nothing(self):
        response = self.change({"email": "new@example.com"})
        self.assertError(response, 401, "insufficient_user_authentication")
        self.assertEqual(
            response["WWW-Authenticate"],
            'Bearer realm="api", error="insufficient_user_authentication", max_age="600", '
            f'error_description="{ReauthenticationRequired.default_message}"',
        )
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "user@example.com")

    def test_the_right_current_password_in_the_body_lets_the_change_through(self):
        response = self.change({"email": "new@example.com", "current_password": PASSWORD})
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["email"], "new@example.com")

    def test_a_wrong_current_password_is_400_and_counts_like_a_wrong_login(self):
        with override_settings(LOGIN_THROTTLE=login_throttle(per_pair=1)):
            response = self.change({"email": "new@example.com", "current_password": "nope-nope"})
            self.assertFieldError(response, "current_password", "wrong_password")
            login = self.post("login", {"email": "user@example.com", "password": PASSWORD})
            self.assertError(login, 429, "throttled")

    def test_right_after_a_login_the_change_needs_no_password(self):
        response = self.change({"email": "new@example.com"}, access=self.fresh)
        self.assertEqual(response.status_code, 200, response.content)

    def test_a_display_name_needs_neither(self):
        response = self.change({"username": "John Smith"})
        self.assertEqual(response.status_code, 200, response.content)

    def test_the_new_password_check_moves_auth_time_in_the_next_tokens(self):
        self.change({"email": "new@example.com", "current_password": PASSWORD})
        self.session.refresh_from_db()
        self.assertGreater(self.session.authenticated_at, self.old + timedelta(minutes=10))


class PasswordPolicyTests(ApiTestCase):
    @override_settings(
        AUTH_PASSWORD_VALIDATORS=[
            {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"}
        ]
    )
    def test_the_basic_policy_accepts_the_example_password_as_written(self):
        response = self.post("register", {"password": "password", "email": "user@example.com"})
        self.assertEqual(response.status_code, 201, response.content)

    def test_the_strict_default_refuses_it(self):
        response = self.post("register", {"password": "password", "email": "user@example.com"})
        self.assertFieldError(response, "password", "password_too_common")


class HotPathQueryTests(APITransactionTestCase):
    """Refresh and login, counted as production runs them: Django logs a transaction's BEGIN
    and COMMIT as queries too. On PostgreSQL a login is 3 and a refresh 4, pinned here."""

    def setUp(self):
        make_user()

    def post(self, name, body):
        return self.client.post(reverse(name), body, format="json")

    def test_login_costs_three_statements_and_no_transaction_on_postgresql(self):
        # Count the attempt; the user with the live lifetimes; then one statement that gives
        # the attempt back, sets last_login, ends sessions past the cap and inserts the session
        # and its token and records the login's events (atomic on its own). SQLite makes those
        # six writes one by one, in a transaction.
        postgresql = connection.vendor == "postgresql"
        with self.assertNumQueries(3 if postgresql else 2 + 2 + 6):
            response = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertEqual(response.status_code, 200)

    def test_refresh_costs_two_statements_and_their_transaction_on_postgresql(self):
        # The token with its session locked and the live settings; then one statement that
        # uses the token up keeping its sealed successor, erases the seal before it, saves the
        # session's last use and inserts the new token (four on SQLite).
        pair = self.post("login", {"email": "user@example.com", "password": PASSWORD}).json()
        with self.assertNumQueries(2 + (2 if connection.vendor == "postgresql" else 5)):
            response = self.post("refresh", {"refresh_token": pair["refresh_token"]})
        self.assertEqual(response.status_code, 200)

    def test_a_retry_within_the_reuse_interval_costs_four_queries_on_postgresql(self):
        # BEGIN, the same lock query, the successor's check in place of the write, COMMIT.
        pair = self.post("login", {"email": "user@example.com", "password": PASSWORD}).json()
        self.post("refresh", {"refresh_token": pair["refresh_token"]})
        with self.assertNumQueries(4):
            response = self.post("refresh", {"refresh_token": pair["refresh_token"]})
        self.assertEqual(response.status_code, 200)

    @override_config(ACCESS_TOKEN_LIFETIME=77, SESSION_LIFETIME=timedelta(days=3))
    def test_the_lifetimes_read_inside_those_queries_are_the_live_ones(self):
        pair = self.post("login", {"email": "user@example.com", "password": PASSWORD}).json()
        claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
        self.assertEqual(claims["exp"] - claims["iat"], 77)
        session = Session.objects.get()
        self.assertEqual(session.expires_at - session.created_at, timedelta(days=3))
        with override_config(ACCESS_TOKEN_LIFETIME=55):
            renewed = self.post("refresh", {"refresh_token": pair["refresh_token"]}).json()
        claims = jwt.decode(renewed["access_token"], options={"verify_signature": False})
        self.assertEqual(claims["exp"] - claims["iat"], 55)


def mailed_token(message, page: str) -> str:
    """The token of the link to ``page`` in a message of the outbox (its plain text)."""
    link = link_in(message.body)
    if not urlsplit(link).path.endswith(page):
        raise AssertionError(f"no link to {page} in: {message.body}")
    token = token_in(message.body)
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
        raise AssertionError(f"not one of our tokens: {token!r}")
    return token


def messages_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


class PasswordResetTests(ApiTestCase):
    def setUp(self):
        self.user = make_user(email_verified_at=None)
        mail.outbox.clear()

    def ask(self, email="user@example.com"):
        return self.post("password-reset", {"email": email})

    def reset_token(self, email="user@example.com") -> str:
        self.assertEqual(self.ask(email).status_code, 202)
        return mailed_token(messages_to(email)[-1], "/password/reset/")

    def confirm(self, token, new_password="another-long-phrase"):
        return self.post("password-reset-confirm", {"token": token, "new_password": new_password})

    def test_a_request_answers_202_and_mails_the_account_a_link_to_the_reset_page(self):
        response = self.ask()
        self.assertEqual(response.status_code, 202)
        self.assertEqual(response.json(), {"detail": views.RESET_REQUESTED})
        (message,) = mail.outbox
        self.assertEqual(message.to, ["user@example.com"])
        self.assertIn("http://testserver/password/reset/?token=", message.body)

    @override_settings(PUBLIC_BASE_URL="https://id.example.com/auth")
    def test_links_point_at_the_public_base_url_when_it_is_set(self):
        self.ask()
        self.assertIn("https://id.example.com/auth/password/reset/?token=", mail.outbox[0].body)

    def test_links_carry_the_stage_prefix_of_the_request_that_asked(self):
        # The test client sets no script prefix of its own: the URLs resolve as under
        # API Gateway's stage once it is set (app.aws.environ does, from the event).
        set_script_prefix("/dev/")
        try:
            self.client.post("/api/password/reset/", {"email": "user@example.com"}, format="json")
        finally:
            set_script_prefix("/")
        self.assertIn("http://testserver/dev/password/reset/?token=", mail.outbox[0].body)

    def test_known_unknown_and_inactive_addresses_get_the_same_answer(self):
        make_user(email="gone@example.com", is_active=False)
        answers = []
        for email in ("user@example.com", "nobody@example.com", "gone@example.com"):
            response = self.ask(email)
            headers = {name: value for name, value in response.items() if name != "Date"}
            answers.append((response.status_code, headers, response.content))
        self.assertEqual(answers[0], answers[1])
        self.assertEqual(answers[0], answers[2])
        self.assertEqual([message.to for message in mail.outbox], [["user@example.com"]])

    @override_settings(TASKS_IN_BACKGROUND=True)
    def test_in_the_background_a_request_makes_one_query_whatever_the_address(self):
        make_user(email="gone@example.com", is_active=False)
        for email in ("user@example.com", "nobody@example.com", "gone@example.com"):
            with self.subTest(email=email), mock.patch("zappa.asynchronous.run") as run:
                with self.assertNumQueries(1):
                    self.assertEqual(self.ask(email).status_code, 202)
                run.assert_called_once()

    @override_settings(MAIL_THROTTLE={"window_seconds": 3600, "per_email": 2, "per_address": 50})
    def test_requests_past_the_limit_for_one_email_return_429_whoever_owns_it(self):
        for email in ("user@example.com", "nobody@example.com"):
            with self.subTest(email=email):
                for _ in range(2):
                    self.assertEqual(self.ask(email).status_code, 202)
                response = self.ask(email)
                self.assertError(response, 429, "throttled")
                self.assertTrue(1 <= int(response["Retry-After"]) <= 3600)
        self.assertEqual(len(mail.outbox), 2)

    @override_settings(MAIL_THROTTLE={"window_seconds": 3600, "per_email": 50, "per_address": 2})
    def test_requests_past_the_limit_from_one_address_return_429(self):
        self.ask("a@example.com")
        self.ask("b@example.com")
        self.assertError(self.ask("c@example.com"), 429, "throttled")

    def test_confirming_sets_the_password_ends_every_session_and_logs_in_a_new_one(self):
        old = self.login()
        response = self.confirm(self.reset_token())
        self.assertEqual(response.status_code, 200, response.content)
        pair = response.json()
        self.assertError(
            self.post("refresh", {"refresh_token": old["refresh_token"]}),
            401,
            "invalid_refresh_token",
        )
        self.assertEqual(
            self.post("refresh", {"refresh_token": pair["refresh_token"]}).status_code, 200
        )
        self.assertError(
            self.post("login", {"email": "user@example.com", "password": PASSWORD}),
            401,
            "invalid_credentials",
        )
        self.login(password="another-long-phrase")

    def test_confirming_verifies_the_address_the_link_went_to(self):
        self.confirm(self.reset_token())
        self.user.refresh_from_db()
        self.assertIsNotNone(self.user.email_verified_at)

    def test_a_token_works_once(self):
        token = self.reset_token()
        self.assertEqual(self.confirm(token).status_code, 200)
        self.assertError(self.confirm(token, "a-third-long-phrase"), 400, "invalid_reset_token")

    def test_a_newer_request_supersedes_the_older_link(self):
        older = self.reset_token()
        newer = self.reset_token()
        self.assertError(self.confirm(older), 400, "invalid_reset_token")
        self.assertEqual(self.confirm(newer).status_code, 200)

    def test_a_password_changed_by_any_path_voids_the_link(self):
        token = self.reset_token()
        self.user.set_password("changed-by-staff-here")
        self.user.save()
        self.assertError(self.confirm(token), 400, "invalid_reset_token")

    def test_an_expired_link_returns_400(self):
        token = self.reset_token()
        MailToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        self.assertError(self.confirm(token), 400, "invalid_reset_token")

    @override_config(PASSWORD_RESET_LIFETIME=timedelta(minutes=20))
    def test_the_link_lives_as_long_as_the_live_setting_says(self):
        before = timezone.now()
        self.reset_token()
        row = MailToken.objects.get()
        self.assertAlmostEqual((row.expires_at - before).total_seconds(), 20 * 60, delta=5)
        self.assertIn("20 minutes", mail.outbox[-1].body)

    def test_a_rejected_password_is_a_field_error_and_leaves_the_link_usable(self):
        token = self.reset_token()
        self.assertFieldError(self.confirm(token, "password"), "new_password", "password_rejected")
        self.assertEqual(self.confirm(token).status_code, 200)

    def test_tokens_that_cannot_be_ours_return_400_invalid_reset_token(self):
        for token in ("x", "A" * 42, "A" * 44, "Ä" * 43, "../" * 14 + "A", "A" * 128):
            with self.subTest(token=token):
                self.assertError(self.confirm(token), 400, "invalid_reset_token")

    def test_a_blank_or_overlong_token_is_a_field_error(self):
        for token, code in (("", "blank"), ("A" * 129, "max_length"), (43, "invalid")):
            with self.subTest(token=token):
                self.assertFieldError(self.confirm(token), "token", code)

    @override_settings(LOGIN_THROTTLE=login_throttle(per_pair=1, per_address=100))
    def test_confirming_lifts_the_failed_login_lock_of_the_email(self):
        self.post("login", {"email": "user@example.com", "password": "wrong-password"})
        locked = self.post("login", {"email": "user@example.com", "password": PASSWORD})
        self.assertError(locked, 429, "throttled")
        self.confirm(self.reset_token())
        self.login(password="another-long-phrase")

    def test_only_the_digest_of_a_token_is_stored(self):
        token = self.reset_token()
        row = MailToken.objects.get()
        self.assertEqual(row.digest, hashlib.sha256(token.encode()).hexdigest())
        self.assertNotIn(token, json.dumps(list(MailToken.objects.values()), default=str))


class VerificationTests(ApiTestCase):
    def register(self, email="user@example.com"):
        response = self.post("register", {"email": email, "password": PASSWORD})
        self.assertEqual(response.status_code, 201, response.content)
        return response

    def verify(self, token):
        return self.post("email-verify", {"token": token})

    def email_state(self, access):
        return self.client.get(reverse("me-email"), HTTP_AUTHORIZATION=f"Bearer {access}").json()

    def test_registering_mails_a_verification_link_and_the_address_is_unverified(self):
        self.register()
        (message,) = mail.outbox
        self.assertEqual(message.to, ["user@example.com"])
        mailed_token(message, "/email/verify/")
        access = self.login()["access_token"]
        self.assertEqual(
            self.email_state(access),
            {
                "email": "user@example.com",
                "email_verified": False,
                "email_verified_at": None,
                "pending_email": "",
            },
        )

    def test_following_the_link_verifies_the_address_once(self):
        self.register()
        token = mailed_token(mail.outbox[0], "/email/verify/")
        response = self.verify(token)
        self.assertEqual(
            response.json(), {"detail": views.EMAIL_VERIFIED, "email": "user@example.com"}
        )
        access = self.login()["access_token"]
        self.assertTrue(self.email_state(access)["email_verified"])
        self.assertError(self.verify(token), 400, "invalid_verification_token")

    def test_resend_mails_a_new_link_and_voids_the_earlier_one(self):
        self.register()
        first = mailed_token(mail.outbox[0], "/email/verify/")
        access = self.login()["access_token"]
        response = self.client.post(
            reverse("email-verify-resend"), HTTP_AUTHORIZATION=f"Bearer {access}"
        )
        self.assertEqual(response.status_code, 202)
        second = mailed_token(mail.outbox[1], "/email/verify/")
        self.assertError(self.verify(first), 400, "invalid_verification_token")
        self.assertEqual(self.verify(second).status_code, 200)

    def test_resend_for_a_verified_address_returns_400_and_sends_nothing(self):
        make_user(email_verified_at=timezone.now())
        access = self.login()["access_token"]
        response = self.client.post(
            reverse("email-verify-resend"), HTTP_AUTHORIZATION=f"Bearer {access}"
        )
        self.assertError(response, 400, "email_already_verified")
        self.assertEqual(mail.outbox, [])

    def test_resend_needs_a_live_session(self):
        make_user()
        pair = self.login()
        self.post("logout", {"refresh_token": pair["refresh_token"]})
        response = self.client.post(
            reverse("email-verify-resend"), HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}"
        )
        self.assertError(response, 401, "invalid_token")

    def test_the_profile_body_stays_exactly_id_username_and_email(self):
        self.register()
        access = self.login()["access_token"]
        body = self.client.get(reverse("me"), HTTP_AUTHORIZATION=f"Bearer {access}").json()
        self.assertEqual(set(body), {"id", "username", "email"})

    @override_settings(REQUIRE_VERIFIED_EMAIL=True)
    def test_when_required_an_unverified_login_is_403_and_a_verified_one_logs_in(self):
        self.register()
        credentials = {"email": "user@example.com", "password": PASSWORD}
        self.assertError(self.post("login", credentials), 403, "email_not_verified")
        self.assertError(
            self.post("login", {**credentials, "password": "wrong-password"}),
            401,
            "invalid_credentials",
        )
        self.verify(mailed_token(mail.outbox[0], "/email/verify/"))
        self.login()

    @override_settings(REQUIRE_VERIFIED_EMAIL=True)
    def test_when_required_an_unverified_login_costs_what_a_wrong_password_costs(self):
        self.register()
        costs = {}
        for password in (PASSWORD, "wrong-password"):
            credentials = {"email": "user@example.com", "password": password}
            with (
                CaptureQueriesContext(connection) as queries,
                mock.patch("app.accounts.models.check_password", wraps=check_password) as hashed,
            ):
                self.post("login", credentials)
            costs[password] = (len(queries), hashed.call_count)
        self.assertEqual(costs[PASSWORD], costs["wrong-password"])
        self.assertEqual(costs[PASSWORD][1], 1)

    @override_settings(REQUIRE_VERIFIED_EMAIL=True, LOGIN_THROTTLE=login_throttle(per_pair=2))
    def test_when_required_an_unverified_login_counts_as_a_right_password(self):
        self.register()
        credentials = {"email": "user@example.com", "password": PASSWORD}
        for _ in range(4):
            self.assertError(self.post("login", credentials), 403, "email_not_verified")


class EmailChangeMailTests(ApiTestCase):
    def setUp(self):
        self.user = make_user(email="old@example.com", email_verified_at=timezone.now())
        self.pair = self.login(email="old@example.com")
        mail.outbox.clear()

    def change(self, email, access=None):
        return self.client.put(
            reverse("me"),
            {"email": email},
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {access or self.pair['access_token']}",
        )

    def revert(self, token):
        return self.post("email-revert", {"token": token})

    def test_a_change_mails_the_old_address_a_notice_and_the_new_one_a_verification(self):
        self.assertEqual(self.change("new@example.com").status_code, 200)
        (notice,) = messages_to("old@example.com")
        (verification,) = messages_to("new@example.com")
        self.assertEqual(len(mail.outbox), 2)
        mailed_token(notice, "/email/revert/")
        self.assertNotIn("/email/verify/", notice.body)
        self.assertNotIn(mailed_token(verification, "/email/verify/"), notice.body)
        self.user.refresh_from_db()
        self.assertIsNone(self.user.email_verified_at)

    def test_asking_for_the_current_address_changes_nothing_and_mails_nothing(self):
        self.assertEqual(self.change("old@example.com").status_code, 200)
        self.assertEqual(mail.outbox, [])

    def test_reverting_gives_back_the_old_address_ends_every_session_and_mails_a_reset(self):
        self.change("new@example.com")
        token = mailed_token(messages_to("old@example.com")[0], "/email/revert/")
        mail.outbox.clear()
        response = self.revert(token)
        self.assertEqual(response.json(), {"detail": views.EMAIL_REVERTED})
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "old@example.com")
        self.assertIsNotNone(self.user.email_verified_at)
        self.assertFalse(Session.objects.live(timezone.now()).exists())
        self.assertError(
            self.post("refresh", {"refresh_token": self.pair["refresh_token"]}),
            401,
            "invalid_refresh_token",
        )
        (reset,) = mail.outbox
        self.assertEqual(reset.to, ["old@example.com"])
        mailed_token(reset, "/password/reset/")

    def test_after_a_revert_the_password_no_longer_logs_in_until_the_reset(self):
        self.change("new@example.com")
        self.revert(mailed_token(messages_to("old@example.com")[0], "/email/revert/"))
        for email in ("old@example.com", "new@example.com"):
            with self.subTest(email=email):
                response = self.post("login", {"email": email, "password": PASSWORD})
                self.assertError(response, 401, "invalid_credentials")
        token = mailed_token(messages_to("old@example.com")[-1], "/password/reset/")
        confirm = {"token": token, "new_password": "another-long-phrase"}
        self.assertEqual(self.post("password-reset-confirm", confirm).status_code, 200)

    def test_a_revert_link_works_once(self):
        self.change("new@example.com")
        token = mailed_token(messages_to("old@example.com")[0], "/email/revert/")
        self.assertEqual(self.revert(token).status_code, 200)
        self.assertError(self.revert(token), 400, "invalid_revert_token")

    def test_an_address_held_by_a_revert_link_cannot_be_taken(self):
        self.change("new@example.com")
        response = self.post("register", {"email": "old@example.com", "password": PASSWORD})
        self.assertFieldError(response, "email", "unique")

    def test_another_account_cannot_move_to_an_address_a_revert_link_holds(self):
        self.change("new@example.com")
        make_user(email="other@example.com")
        other = self.login(email="other@example.com")["access_token"]
        self.assertFieldError(self.change("old@example.com", access=other), "email", "unique")

    def test_the_owner_may_move_back_to_the_address_their_own_revert_link_holds(self):
        self.change("new@example.com")
        response = self.change("old@example.com")
        self.assertEqual(response.json()["email"], "old@example.com")

    def test_the_first_old_address_wins_over_a_revert_from_a_later_change(self):
        self.change("second@example.com")
        self.change("third@example.com")
        first = mailed_token(messages_to("old@example.com")[0], "/email/revert/")
        second = mailed_token(messages_to("second@example.com")[-1], "/email/revert/")
        self.assertEqual(self.revert(second).status_code, 200)
        self.assertEqual(self.revert(first).status_code, 200)
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "old@example.com")
        self.assertError(self.revert(second), 400, "invalid_revert_token")

    def test_after_a_revert_with_the_latest_notice_no_link_of_an_earlier_change_takes_it_back(
        self,
    ):
        # Whoever knows the password moves the account to their address and back, then away
        # again: the owner's latest notice is the one they act on.
        self.change("intruder@example.com")
        self.change("old@example.com")
        self.change("elsewhere@example.com")
        latest = mailed_token(messages_to("old@example.com")[-1], "/email/revert/")
        intruders = mailed_token(messages_to("intruder@example.com")[-1], "/email/revert/")
        self.assertEqual(self.revert(latest).status_code, 200)
        self.assertError(self.revert(intruders), 400, "invalid_revert_token")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "old@example.com")

    def test_a_reset_by_the_owner_leaves_no_revert_link_that_moves_the_account_away(self):
        # Moved to an intruder's address and back: the owner, at their address again, sets a
        # new password through a reset, which ends every session.
        self.change("intruder@example.com")
        self.change("old@example.com")
        intruders = mailed_token(messages_to("intruder@example.com")[-1], "/email/revert/")
        self.post("password-reset", {"email": "old@example.com"})
        reset = mailed_token(messages_to("old@example.com")[-1], "/password/reset/")
        confirm = {"token": reset, "new_password": "the-owners-new-phrase"}
        self.assertEqual(self.post("password-reset-confirm", confirm).status_code, 200)
        self.assertError(self.revert(intruders), 400, "invalid_revert_token")
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "old@example.com")

    def test_an_intruders_reset_at_their_address_leaves_the_owners_revert_link_working(self):
        self.change("intruder@example.com")
        owners = mailed_token(messages_to("old@example.com")[0], "/email/revert/")
        self.post("password-reset", {"email": "intruder@example.com"})
        reset = mailed_token(messages_to("intruder@example.com")[-1], "/password/reset/")
        confirm = {"token": reset, "new_password": "the-intruders-phrase"}
        self.assertEqual(self.post("password-reset-confirm", confirm).status_code, 200)
        self.assertEqual(self.revert(owners).status_code, 200)
        self.user.refresh_from_db()
        self.assertEqual(self.user.email, "old@example.com")

    def test_a_revert_voids_the_verification_of_the_new_address(self):
        self.change("new@example.com")
        verify = mailed_token(messages_to("new@example.com")[0], "/email/verify/")
        self.revert(mailed_token(messages_to("old@example.com")[0], "/email/revert/"))
        self.assertError(
            self.post("email-verify", {"token": verify}), 400, "invalid_verification_token"
        )

    @override_settings(EMAIL_CHANGE_POLICY="confirm")
    def test_under_the_confirm_policy_a_change_waits_for_the_new_address(self):
        response = self.change("new@example.com")
        self.assertEqual(
            response.json(),
            {
                "id": self.user.pk,
                "username": "",
                "email": "old@example.com",
                "pending_email": "new@example.com",
            },
        )
        self.assertEqual(messages_to("old@example.com"), [])
        self.assertError(
            self.post("login", {"email": "new@example.com", "password": PASSWORD}),
            401,
            "invalid_credentials",
        )
        token = mailed_token(messages_to("new@example.com")[0], "/email/verify/")
        self.assertEqual(
            self.post("email-verify", {"token": token}).json()["email"], "new@example.com"
        )
        self.login(email="new@example.com")
        mailed_token(messages_to("old@example.com")[0], "/email/revert/")

    @override_settings(EMAIL_CHANGE_POLICY="confirm")
    def test_under_the_confirm_policy_a_withdrawn_change_voids_its_link(self):
        self.user.email_verified_at = None
        self.user.save()
        self.change("new@example.com")
        token = mailed_token(messages_to("new@example.com")[0], "/email/verify/")
        self.assertNotIn("pending_email", self.change("old@example.com").json())
        self.assertError(
            self.post("email-verify", {"token": token}), 400, "invalid_verification_token"
        )
        self.user.refresh_from_db()
        self.assertIsNone(self.user.email_verified_at)

    @override_settings(EMAIL_CHANGE_POLICY="confirm")
    def test_under_the_confirm_policy_a_taken_address_is_refused_at_once(self):
        make_user(email="taken@example.com")
        self.assertFieldError(self.change("taken@example.com"), "email", "unique")

    @override_settings(EMAIL_CHANGE_POLICY="confirm")
    def test_under_the_confirm_policy_an_address_taken_meanwhile_is_refused_at_verification(self):
        self.change("new@example.com")
        token = mailed_token(messages_to("new@example.com")[0], "/email/verify/")
        make_user(email="new@example.com")
        self.assertFieldError(self.post("email-verify", {"token": token}), "email", "unique")
        self.user.refresh_from_db()
        self.assertEqual(
            (self.user.email, self.user.pending_email), ("old@example.com", "new@example.com")
        )


class NoticeDeliveryTests(ApiTestCase):
    """The notice's deferred task, delivered twice (Lambda's asynchronous invocations are at
    least once): the first notice's link keeps working, the second sends nothing."""

    def test_a_notice_delivered_twice_sends_once_and_its_link_keeps_working(self):
        make_user(email="old@example.com")
        access = self.login(email="old@example.com")["access_token"]
        with mock.patch("app.tasks.defer") as defer:
            answer = self.client.put(
                reverse("me"),
                {"email": "new@example.com"},
                format="json",
                HTTP_AUTHORIZATION=f"Bearer {access}",
            )
        self.assertEqual(answer.status_code, 200)
        (notice,) = [
            call
            for call in defer.call_args_list
            if call.args[0] is recovery.send_email_change_notice
        ]
        for _ in range(2):
            recovery.send_email_change_notice(**notice.kwargs)
        (message,) = messages_to("old@example.com")
        token = mailed_token(message, "/email/revert/")
        self.assertEqual(self.post("email-revert", {"token": token}).status_code, 200)

    def test_a_notice_whose_first_delivery_fails_to_send_is_sent_by_the_retry(self):
        # Lambda retries an asynchronous invocation that raised (SES throttled or down).
        make_user(email="old@example.com")
        access = self.login(email="old@example.com")["access_token"]
        with mock.patch("app.tasks.defer") as defer:
            self.client.put(
                reverse("me"),
                {"email": "new@example.com"},
                format="json",
                HTTP_AUTHORIZATION=f"Bearer {access}",
            )
        (notice,) = [
            call
            for call in defer.call_args_list
            if call.args[0] is recovery.send_email_change_notice
        ]
        with mock.patch("app.accounts.mail.EmailMultiAlternatives.send", side_effect=OSError):
            with self.assertRaises(OSError):
                recovery.send_email_change_notice(**notice.kwargs)
        recovery.send_email_change_notice(**notice.kwargs)
        (message,) = messages_to("old@example.com")
        token = mailed_token(message, "/email/revert/")
        self.assertEqual(self.post("email-revert", {"token": token}).status_code, 200)


class HealthTests(ApiTestCase):
    def test_health_is_200_ok_in_one_query_with_no_credentials(self):
        with self.assertNumQueries(1):
            response = self.client.get(reverse("health"))
        self.assertEqual(response.json(), {"status": "ok"})
        self.assertEqual(response["Cache-Control"], "no-store")

    def test_health_is_a_json_503_when_the_database_does_not_answer(self):
        with mock.patch(
            "app.accounts.selectors.database_answers",
            side_effect=OperationalError("connection refused"),
        ):
            response = self.client.get(reverse("health"))
        self.assertError(response, 503, "service_unavailable")
        self.assertEqual(response["Retry-After"], "5")
