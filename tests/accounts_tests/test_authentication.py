"""``app/accounts/authentication.py``: a bearer header to a principal, with no database."""

from datetime import timedelta

from django.test import TestCase
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from app.accounts import tokens
from app.accounts.authentication import BearerTokenAuthentication


def authenticate(authorization):
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=authorization))
    return BearerTokenAuthentication().authenticate(request)


class BearerTokenAuthenticationTests(TestCase):
    def test_valid_token_authenticates_with_zero_queries(self):
        token = tokens.issue_access_token(
            user_id=42, lifetime=timedelta(seconds=30), now=timezone.now()
        )
        # Zero queries also proves that constance is not read on this path.
        with self.assertNumQueries(0):
            user, claims = authenticate(f"Bearer {token}")
        self.assertEqual((user.id, user.pk, claims.user_id), (42, 42, 42))
        self.assertTrue(user.is_authenticated)

    def test_scheme_is_case_insensitive(self):
        token = tokens.issue_access_token(
            user_id=1, lifetime=timedelta(seconds=30), now=timezone.now()
        )
        self.assertIsNotNone(authenticate(f"bearer {token}"))

    def test_other_schemes_are_left_to_other_authenticators(self):
        self.assertIsNone(authenticate("Basic dXNlcjpwYXNz"))

    def test_bad_token_fails_with_the_invalid_token_code(self):
        with self.assertNumQueries(0), self.assertRaises(AuthenticationFailed) as caught:
            authenticate("Bearer nope")
        self.assertEqual(caught.exception.detail.code, "invalid_token")

    def test_non_ascii_token_fails_with_the_invalid_token_code(self):
        request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION="Bearer tökén"))
        with self.assertRaises(AuthenticationFailed) as caught:
            BearerTokenAuthentication().authenticate(request)
        self.assertEqual(caught.exception.detail.code, "invalid_token")

    def test_challenge_names_the_bearer_scheme_and_realm(self):
        self.assertEqual(
            BearerTokenAuthentication().authenticate_header(None), 'Bearer realm="api"'
        )
