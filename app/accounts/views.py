"""One thin APIView per endpoint: parse with a serializer, call a service, render."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from app.accounts import schema, serializers, services
from app.accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    LoginThrottled,
    RefreshTokenExpired,
    RegistrationThrottled,
)

EXAMPLE_EMAIL = "user@example.com"
EXAMPLE_PASSWORD = "correct-horse-battery"
EXAMPLE_REFRESH = "d952527b-caef-452c-8c93-1100214f82e5"
EXAMPLE_PAIR = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.sig",
    "refresh_token": EXAMPLE_REFRESH,
}


class ApiView(APIView):
    """Every endpoint: answers are personal (tokens, profiles) and never stored by a cache.

    RFC 6749 section 5.1 asks ``no-store`` of token responses; RFC 9111 lets it cover all.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


def client_address(request) -> str | None:
    """The client's address as the server (or API Gateway, see ``app.serverless``) saw it."""
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request) -> str:
    """The ``User-Agent`` header, for the session's record."""
    return request.META.get("HTTP_USER_AGENT", "")


class PublicAPIView(ApiView):
    """An endpoint anyone may call: no bearer token is read."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def http_method_not_allowed(self, request, *args, **kwargs):
        """A browser's GET of a POST endpoint opens its form (200); any other client gets 405."""
        if request.method == "GET" and isinstance(
            getattr(request, "accepted_renderer", None), BrowsableAPIRenderer
        ):
            return Response({"detail": f"Send a POST to {request.path}: the form below does."})
        return super().http_method_not_allowed(request, *args, **kwargs)


class ApiRootView(PublicAPIView):
    """``/api/``: the endpoints, linked; the browsable API's front page."""

    @extend_schema(exclude=True)
    def get(self, request):
        names = ["register", "login", "refresh", "logout", "me"]
        return Response({name: reverse(name, request=request) for name in names})


class RegisterView(PublicAPIView):
    @extend_schema(
        operation_id="register",
        summary="Create an account",
        request=serializers.RegisterSerializer,
        responses={
            201: serializers.RegisteredUserSerializer,
            400: schema.field_error(EmailTaken),
            429: schema.error(
                "Too many registrations from this address (with `Retry-After`).",
                RegistrationThrottled,
            ),
        },
        examples=[
            OpenApiExample(
                "register",
                value={"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD},
                request_only=True,
            ),
            OpenApiExample(
                "registered", value={"id": 1, "email": EXAMPLE_EMAIL}, response_only=True
            ),
        ],
    )
    def post(self, request):
        incoming = serializers.RegisterSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = services.register(**incoming.validated_data, address=client_address(request))
        return Response(
            serializers.RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED
        )


class LoginView(PublicAPIView):
    @extend_schema(
        operation_id="login",
        summary="Log in: get an access and a refresh token",
        request=serializers.LoginSerializer,
        responses={
            200: serializers.TokenPairSerializer,
            400: schema.validation_error("password", "required", "This field is required."),
            401: schema.error(
                "Wrong e-mail or password, or an inactive account.", InvalidCredentials
            ),
            429: schema.error(
                "Too many failed logins for this e-mail or address (with `Retry-After`).",
                LoginThrottled,
            ),
        },
        examples=[
            OpenApiExample(
                "login",
                value={"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD},
                request_only=True,
            ),
            OpenApiExample("tokens", value=EXAMPLE_PAIR, response_only=True),
        ],
    )
    def post(self, request):
        incoming = serializers.LoginSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.login(
            **incoming.validated_data,
            address=client_address(request),
            user_agent=user_agent(request),
            request=request,
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class RefreshView(PublicAPIView):
    @extend_schema(
        operation_id="refresh",
        summary="Exchange a refresh token for a new pair",
        description=(
            "The refresh token is used up. Presenting a used token again revokes every token "
            "of its session."
        ),
        request=serializers.RefreshTokenSerializer,
        responses={
            200: serializers.TokenPairSerializer,
            400: schema.validation_error("refresh_token", "invalid", "Must be a valid UUID."),
            401: schema.error(
                "Unknown, expired, revoked or reused refresh token.", RefreshTokenExpired
            ),
        },
        examples=[
            OpenApiExample("refresh", value={"refresh_token": EXAMPLE_REFRESH}, request_only=True),
            OpenApiExample("tokens", value=EXAMPLE_PAIR, response_only=True),
        ],
    )
    def post(self, request):
        incoming = serializers.RefreshTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.rotate(
            **incoming.validated_data,
            address=client_address(request),
            user_agent=user_agent(request),
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class LogoutView(PublicAPIView):
    @extend_schema(
        operation_id="logout",
        summary="Log out: revoke the refresh token's session",
        description="Unknown or already revoked tokens get the same answer (RFC 7009).",
        request=serializers.RefreshTokenSerializer,
        responses={
            200: serializers.LogoutSerializer,
            400: schema.validation_error("refresh_token", "required", "This field is required."),
        },
        examples=[
            OpenApiExample("logout", value={"refresh_token": EXAMPLE_REFRESH}, request_only=True),
            OpenApiExample("logged out", value={"success": "User logged out."}, response_only=True),
        ],
    )
    def post(self, request):
        incoming = serializers.RefreshTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.log_out(**incoming.validated_data)
        return Response(serializers.LogoutSerializer({"success": "User logged out."}).data)


PROFILE_EXAMPLE = OpenApiExample(
    "profile", value={"id": 1, "username": "John Smith", "email": EXAMPLE_EMAIL}, response_only=True
)


class MeView(ApiView):
    @extend_schema(
        operation_id="me_read",
        summary="Read your profile",
        responses={200: serializers.ProfileSerializer, 401: schema.UNAUTHORIZED},
        examples=[PROFILE_EXAMPLE],
    )
    def get(self, request):
        user = services.get_profile(user_id=request.user.id)
        return Response(serializers.ProfileSerializer(user).data)

    @extend_schema(
        operation_id="me_update",
        summary="Update your username and/or e-mail",
        request=serializers.ProfileUpdateSerializer,
        responses={
            200: serializers.ProfileSerializer,
            400: schema.field_error(EmailTaken),
            401: schema.UNAUTHORIZED,
        },
        examples=[
            OpenApiExample("username", value={"username": "John Smith"}, request_only=True),
            OpenApiExample("email", value={"email": "newuser@example.com"}, request_only=True),
            PROFILE_EXAMPLE,
        ],
    )
    def put(self, request):
        incoming = serializers.ProfileUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = services.update_profile(user_id=request.user.id, **incoming.validated_data)
        return Response(serializers.ProfileSerializer(user).data)

    @extend_schema(
        operation_id="me_partial_update",
        summary="Update your username and/or e-mail (same as PUT)",
        request=serializers.ProfileUpdateSerializer,
        responses={
            200: serializers.ProfileSerializer,
            400: schema.validation_error("email", "invalid", "Enter a valid email address."),
            401: schema.UNAUTHORIZED,
        },
    )
    def patch(self, request):
        return self.put(request)
