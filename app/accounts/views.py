"""One thin APIView per endpoint: parse with a serializer, call a service, render.

Endpoints need a bearer token (the project's DRF defaults) unless they are a ``PublicAPIView``;
``app.middleware`` keeps every answer under /api/ out of caches.

Their OpenAPI descriptions live in ``schema.py``, loaded only when the docs are asked for.
"""

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from app.accounts import selectors, serializers, services, tokens
from app.accounts.errors import IssuerUnknown
from app.accounts.pagination import EventsPage, SessionsPage


def client_address(request) -> str | None:
    """The client's address as the server (or API Gateway, see ``app.aws.environ``) saw it."""
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request) -> str:
    """The ``User-Agent`` header, for the session's record."""
    return request.META.get("HTTP_USER_AGENT", "")


def client(request) -> dict:
    """Who is calling, as services take it: ``address`` and ``user_agent``, for the sessions
    and security events they record."""
    return {"address": client_address(request), "user_agent": user_agent(request)}


def links_base(request) -> str:
    """Where the links of messages point: ``PUBLIC_BASE_URL``, or else this request's origin
    and prefix (API Gateway's stage), as the front door's own links (a host Django allows)."""
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri(reverse("front-door")).rstrip("/")


# The answers of the endpoints that mail a link, each said once.
RESET_REQUESTED = (
    "If an account has this address, a link to choose a new password is on its way to it."
)
VERIFICATION_SENT = "A new verification link is on its way to your address."
EMAIL_VERIFIED = "Address confirmed."
EMAIL_REVERTED = (
    "The old address is back and every session has ended. A link to choose a new password is "
    "on its way to it."
)


class PublicAPIView(APIView):
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


class APIRootView(PublicAPIView):
    """``/api/``: the endpoints, linked; the browsable API's front page."""

    name = "Authentication API"
    description = (
        "Every endpoint of the API, linked. Register, log in, then use the tokens: the "
        "documentation is at /api/docs/ (Swagger UI) and /api/redoc/."
    )

    def get(self, request):
        names = [
            "register",
            "login",
            "refresh",
            "logout",
            "logout-all",
            "me",
            "password",
            "sessions",
            "me-email",
            "me-events",
            "password-reset",
            "password-reset-confirm",
            "email-verify",
            "email-verify-resend",
            "email-revert",
            "health",
        ]
        return Response({name: reverse(name, request=request) for name in names})


class RegisterView(PublicAPIView):
    def post(self, request):
        incoming = serializers.RegisterSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = services.register(
            **incoming.validated_data,
            **client(request),
            base_url=links_base(request),
        )
        return Response(
            serializers.RegisteredUserSerializer(user).data, status=status.HTTP_201_CREATED
        )


class LoginView(PublicAPIView):
    def post(self, request):
        incoming = serializers.LoginSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.login(
            **incoming.validated_data,
            **client(request),
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class RefreshView(PublicAPIView):
    def post(self, request):
        incoming = serializers.RefreshTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.rotate(
            **incoming.validated_data,
            **client(request),
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class LogoutView(PublicAPIView):
    def post(self, request):
        incoming = serializers.RefreshTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.log_out(**incoming.validated_data, **client(request))
        return Response(serializers.LogoutSerializer({"success": "User logged out."}).data)


class LogoutAllView(APIView):
    def post(self, request):
        services.log_out_everywhere(
            user_id=request.user.id, session_id=request.user.session_id, **client(request)
        )
        message = {"success": "User logged out of every session."}
        return Response(serializers.LogoutSerializer(message).data)


class SessionsView(APIView):
    pagination_class = SessionsPage

    def get(self, request):
        sessions = selectors.sessions_of(
            user_id=request.user.id, session_id=request.user.session_id, now=timezone.now()
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(sessions, request, view=self)
        context = {"session_id": request.user.session_id}
        data = serializers.SessionSerializer(page, many=True, context=context).data
        return paginator.get_paginated_response(data)


class SessionView(APIView):
    def delete(self, request, session_id):
        services.end_own_session(
            user_id=request.user.id,
            caller_session_id=request.user.session_id,
            session_id=session_id,
            **client(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordView(APIView):
    def post(self, request):
        incoming = serializers.PasswordChangeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.change_password(
            **incoming.validated_data,
            user_id=request.user.id,
            session_id=request.user.session_id,
            **client(request),
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class MeView(APIView):
    def get(self, request):
        user = selectors.get_profile(user_id=request.user.id)
        return Response(serializers.ProfileSerializer(user).data)

    def put(self, request):
        incoming = serializers.ProfileUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = services.update_profile(
            **incoming.validated_data,
            user_id=request.user.id,
            session_id=request.user.session_id,
            authenticated_at=request.user.claims.authenticated_at,
            **client(request),
            base_url=links_base(request),
        )
        # A change that waits for its verification says so in a field of its own.
        shown = serializers.PendingProfileSerializer if user.pending_email else None
        return Response((shown or serializers.ProfileSerializer)(user).data)

    def patch(self, request):
        return self.put(request)


class MeEmailView(APIView):
    def get(self, request):
        user = selectors.get_email_status(user_id=request.user.id)
        return Response(serializers.EmailStatusSerializer(user).data)


class EventsView(APIView):
    pagination_class = EventsPage

    def get(self, request):
        events = selectors.events_of(
            user_id=request.user.id, session_id=request.user.session_id, now=timezone.now()
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events, request, view=self)
        data = serializers.SecurityEventSerializer(page, many=True).data
        return paginator.get_paginated_response(data)


class PasswordResetView(PublicAPIView):
    def post(self, request):
        incoming = serializers.PasswordResetSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.request_password_reset(
            **incoming.validated_data,
            **client(request),
            base_url=links_base(request),
        )
        body = serializers.DetailSerializer({"detail": RESET_REQUESTED}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(PublicAPIView):
    def post(self, request):
        incoming = serializers.PasswordResetConfirmSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        pair = services.confirm_password_reset(
            **incoming.validated_data,
            **client(request),
        )
        return Response(serializers.TokenPairSerializer(pair).data)


class EmailVerifyView(PublicAPIView):
    def post(self, request):
        incoming = serializers.MailTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        user = services.verify_email(
            **incoming.validated_data, **client(request), base_url=links_base(request)
        )
        body = {"detail": EMAIL_VERIFIED, "email": user.email}
        return Response(serializers.EmailVerifiedSerializer(body).data)


class EmailVerifyResendView(APIView):
    def post(self, request):
        services.request_verification(
            user_id=request.user.id,
            session_id=request.user.session_id,
            **client(request),
            base_url=links_base(request),
        )
        body = serializers.DetailSerializer({"detail": VERIFICATION_SENT}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class EmailRevertView(PublicAPIView):
    def post(self, request):
        incoming = serializers.MailTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        services.revert_email_change(
            **incoming.validated_data, **client(request), base_url=links_base(request)
        )
        return Response(serializers.DetailSerializer({"detail": EMAIL_REVERTED}).data)


class PublishedKeysView(PublicAPIView):
    """``/.well-known/jwks.json``: the public keys that verify our access tokens (RFC 7517
    section 5), for API Gateway's JWT authorizer and any other service."""

    renderer_classes = [JSONRenderer]

    def get(self, request):
        published = [key.jwk for key in tokens.verifying_keys()]
        return _public_answer({"keys": published})


class DiscoveryView(PublicAPIView):
    """``/.well-known/openid-configuration``: what a JWT authorizer reads to find our keys
    (OpenID Connect Discovery 1.0 section 3), with ``issuer`` byte-equal to our tokens'
    ``iss``."""

    renderer_classes = [JSONRenderer]

    def get(self, request):
        issuer = settings.JWT_ISSUER
        if not issuer:
            raise IssuerUnknown()
        algorithms = sorted({key.algorithm for key in tokens.verifying_keys()})
        return _public_answer(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": algorithms,
                "token_endpoint_auth_methods_supported": ["none"],
                "claims_supported": ["iss", "aud", "sub", "exp", "nbf", "iat", "auth_time"],
            }
        )


def _public_answer(body: dict) -> Response:
    """A JSON answer any cache may keep for ``JWKS_MAX_AGE`` seconds (RFC 9111 section
    5.2.2.9): shorter than a next key is announced before it signs, so none misses it."""
    response = Response(body)
    response["Cache-Control"] = f"public, max-age={settings.JWKS_MAX_AGE}"
    return response


class HealthView(PublicAPIView):
    """``/api/health/``: whether this instance can serve, for a load balancer or a deploy."""

    def get(self, request):
        selectors.database_answers()
        return Response(serializers.HealthSerializer({"status": "ok"}).data)
