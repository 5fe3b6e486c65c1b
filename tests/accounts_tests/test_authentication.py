"""``app/accounts/authentication.py``: a bearer header to a principal, with no database."""

from datetime import timedelta

from django.test import TestCase, override_settings
from django.urls import path, reverse
from django.utils import timezone
from rest_framework import generics, permissions
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from app.accounts import tokens
from app.accounts.authentication import BearerTokenAuthentication, TokenUser
from app.accounts.models import User


def authenticate(authorization):
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=authorization))
    return BearerTokenAuthentication().authenticate(request)


def access_token(user_id=42):
    return tokens.issue_access_token(
        user_id=user_id, lifetime=timedelta(seconds=30), now=timezone.now()
    )


def token_user(user_id=42):
    return authenticate(f"Bearer {access_token(user_id)}")[0]


class AdminOnlyView(APIView):
    permission_classes = [permissions.IsAdminUser]

    def get(self, request):
        return Response({})


class UserModelView(generics.ListCreateAPIView):
    permission_classes = [permissions.DjangoModelPermissions]
    queryset = User.objects.none()


# Views guarded by DRF's permission classes that ask the user more than is_authenticated.
urlpatterns = [
    path("admin-only/", AdminOnlyView.as_view(), name="admin-only"),
    path("users/", UserModelView.as_view(), name="users"),
]


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

    def test_a_bearer_header_beyond_latin_1_is_a_401_invalid_token_not_a_crash(self):
        # A WSGI environ must hold ISO-8859-1 text (PEP 3333); one that does not made DRF's
        # get_authorization_header raise UnicodeEncodeError.
        response = APIClient().get(reverse("me"), HTTP_AUTHORIZATION="Bearer \u2603")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["code"], "invalid_token")
        self.assertIn('error="invalid_token"', response["WWW-Authenticate"])

    def test_another_scheme_beyond_latin_1_is_left_to_other_authenticators(self):
        self.assertIsNone(authenticate("Basic \u2603"))

    def test_challenge_names_the_bearer_scheme_and_realm(self):
        self.assertEqual(
            BearerTokenAuthentication().authenticate_header(None), 'Bearer realm="api"'
        )


class TokenUserTests(TestCase):
    def test_a_token_user_is_authenticated_and_grants_nothing(self):
        user = token_user()
        cases = {
            "is_authenticated": (user.is_authenticated, True),
            "is_anonymous": (user.is_anonymous, False),
            "is_active": (user.is_active, True),
            "is_staff": (user.is_staff, False),
            "is_superuser": (user.is_superuser, False),
            "username": (user.username, ""),
            "get_username": (user.get_username(), ""),
            "has_perm": (user.has_perm("accounts.view_user"), False),
            "has_perms": (user.has_perms(["accounts.view_user"]), False),
            "has_module_perms": (user.has_module_perms("accounts"), False),
            "get_user_permissions": (user.get_user_permissions(), set()),
            "get_group_permissions": (user.get_group_permissions(), set()),
            "get_all_permissions": (user.get_all_permissions(), set()),
            "groups": (list(user.groups.all()), []),
            "user_permissions": (list(user.user_permissions.all()), []),
        }
        with self.assertNumQueries(0):
            for label, (seen, expected) in cases.items():
                with self.subTest(label):
                    self.assertEqual(seen, expected)

    def test_a_token_user_keeps_the_ids_of_its_token(self):
        user = token_user()
        self.assertIsInstance(user, TokenUser)
        self.assertEqual((user.id, user.pk, user.claims.user_id), (42, 42, 42))
        self.assertEqual(user.session_id, user.claims.session_id)

    def test_token_users_are_equal_by_user_id_and_never_equal_a_user_row(self):
        user = token_user(42)
        self.assertEqual(user, token_user(42))
        self.assertEqual(hash(user), hash(token_user(42)))
        self.assertEqual(len({user, token_user(42), token_user(43)}), 2)
        self.assertNotEqual(user, token_user(43))
        self.assertNotEqual(user, User(pk=42))
        self.assertNotEqual(User(pk=42), user)

    def test_a_token_user_has_no_row_to_save_delete_or_hold_a_password(self):
        user = token_user()
        for label, action in {
            "save": user.save,
            "delete": user.delete,
            "set_password": lambda: user.set_password("x"),
            "check_password": lambda: user.check_password("x"),
        }.items():
            with self.subTest(label), self.assertRaises(NotImplementedError):
                action()


@override_settings(ROOT_URLCONF=__name__)
class TokenUserPermissionTests(TestCase):
    def test_permission_classes_that_ask_more_than_authentication_refuse_with_a_json_403(self):
        client = APIClient(HTTP_AUTHORIZATION=f"Bearer {access_token()}")
        for label, send in {
            "IsAdminUser": lambda: client.get(reverse("admin-only")),
            "DjangoModelPermissions": lambda: client.post(reverse("users"), {}, format="json"),
        }.items():
            with self.subTest(label):
                response = send()
                self.assertEqual(response.status_code, 403)
                self.assertEqual(response.json()["code"], "permission_denied")
