"""The OpenAPI description of each accounts operation, with its examples and documented errors.

Why here and not as ``@extend_schema`` on the views: drf-spectacular's decorators import its
schema generator, about half a second of the function's cold start, for every request's
process. Its view extensions (``_describe`` below) apply the same declarations from this
module, which only the docs load (``schema_hooks``, named by the settings, imports it).
"""

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers as fields

from app.accounts import serializers
from app.accounts.errors import (
    EmailAlreadyVerified,
    EmailChangeThrottled,
    EmailNotVerified,
    EmailTaken,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidResetToken,
    InvalidRevertToken,
    InvalidVerificationToken,
    LoginThrottled,
    MailThrottled,
    PasswordRejected,
    ReauthenticationRequired,
    RefreshTokenExpired,
    RegistrationThrottled,
    SessionEnded,
    SessionNotFound,
    TooManyLogins,
    WrongPassword,
)
from app.accounts.serializers import ErrorSerializer
from app.errors import DomainError, FieldError, Throttled


def error(description: str, raised: type[DomainError], detail: str | None = None):
    """A documented error response whose example is what ``raised`` answers."""
    if issubclass(raised, Throttled):
        detail = raised.message_for(240)
    return _example(description, raised.code, detail or raised.default_message)


def field_error(raised: type[FieldError]) -> OpenApiResponse:
    """A documented 400 whose example is the field error ``raised`` answers."""
    return validation_error(raised.field, raised.code, raised.default_message)


def validation_error(field: str, code: str, message: str) -> OpenApiResponse:
    """A documented 400 with one field error (the serializers' own) as its example."""
    return OpenApiResponse(
        ErrorSerializer,
        description="Invalid input; see `fields`.",
        examples=[field_example(field, code, message)],
    )


def error_example(code: str, detail: str, *, name: str | None = None, **extra) -> OpenApiExample:
    """An error body in the API's one shape, as an example named ``name`` (its code else)."""
    return OpenApiExample(name or code, value={"code": code, "detail": detail, **extra})


def field_example(field: str, code: str, message: str, *, name: str = "invalid") -> OpenApiExample:
    """A validation error's body with one field error, as an example."""
    return error_example(
        "invalid",
        "The request is invalid; see fields.",
        name=name,
        fields={field: [{"code": code, "message": message}]},
    )


def _example(description: str, code: str, detail: str, **extra) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[error_example(code, detail, **extra)],
    )


UNAUTHORIZED = error(
    "Missing, invalid or expired access token (with `WWW-Authenticate`).",
    InvalidAccessToken,
    "Token has expired.",
)
SESSION_ENDED = error(
    "Missing, invalid or expired access token, or one whose session has ended (with "
    "`WWW-Authenticate`).",
    SessionEnded,
)
# Both cursor pages (sessions, events) answer a cursor they did not make so.
BAD_CURSOR = _example("A `cursor` that is not one of ours.", "not_found", "Invalid cursor")
LOGIN_LIMITS = error(
    "Too many wrong passwords for this e-mail from this address, from this address, or for "
    "this e-mail from everywhere; or too many logins (with `Retry-After`). The password was "
    "not checked.",
    LoginThrottled,
)


# The documentation of each operation, applied to its view method in views.py.
EXCLUDED = extend_schema(exclude=True)
EXAMPLE_EMAIL = "user@example.com"
EXAMPLE_PASSWORD = "correct-horse-battery"
EXAMPLE_REFRESH = "d952527b-caef-452c-8c93-1100214f82e5"
EXAMPLE_PAIR = {
    "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.sig",
    "refresh_token": EXAMPLE_REFRESH,
}


def sent(name: str, value: dict) -> OpenApiExample:
    """An example request body."""
    return OpenApiExample(name, value=value, request_only=True)


def answered(name: str, value: dict) -> OpenApiExample:
    """An example response body."""
    return OpenApiExample(name, value=value, response_only=True)


PROFILE_EXAMPLE = answered("profile", {"id": 1, "username": "John Smith", "email": EXAMPLE_EMAIL})
CREDENTIALS_EXAMPLE = {"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD}
TOKENS_EXAMPLE = answered("tokens", EXAMPLE_PAIR)
REFRESH_TOKEN_EXAMPLE = {"refresh_token": EXAMPLE_REFRESH}

REGISTER = extend_schema(
    operation_id="register",
    summary="Create an account",
    request=serializers.RegisterSerializer,
    responses={
        201: serializers.RegisteredUserSerializer,
        400: field_error(EmailTaken),
        429: error(
            "Too many registrations from this address (with `Retry-After`).",
            RegistrationThrottled,
        ),
    },
    examples=[
        sent("register", CREDENTIALS_EXAMPLE),
        answered("registered", {"id": 1, "email": EXAMPLE_EMAIL}),
    ],
)

LOGIN = extend_schema(
    operation_id="login",
    summary="Log in: get an access and a refresh token",
    request=serializers.LoginSerializer,
    responses={
        200: serializers.TokenPairSerializer,
        400: validation_error("password", "required", "This field is required."),
        401: error("Wrong e-mail or password, or an inactive account.", InvalidCredentials),
        403: error(
            "The right password for an unverified e-mail, when the stage requires verified "
            "addresses (`REQUIRE_VERIFIED_EMAIL`).",
            EmailNotVerified,
        ),
        429: LOGIN_LIMITS,
    },
    examples=[
        sent("login", CREDENTIALS_EXAMPLE),
        TOKENS_EXAMPLE,
    ],
)

REFRESH = extend_schema(
    operation_id="refresh",
    summary="Exchange a refresh token for a new pair",
    description=(
        "The refresh token is used up. Shown again within the reuse interval (10 s by "
        "default) while its successor is unused, it gets that same successor with a fresh "
        "access token (a retry, or a second tab); shown again later, it revokes every token "
        "of its session."
    ),
    request=serializers.RefreshTokenSerializer,
    responses={
        200: serializers.TokenPairSerializer,
        400: validation_error("refresh_token", "invalid", "Must be a valid UUID."),
        401: error("Unknown, expired, revoked or reused refresh token.", RefreshTokenExpired),
    },
    examples=[
        sent("refresh", REFRESH_TOKEN_EXAMPLE),
        TOKENS_EXAMPLE,
    ],
)

LOGOUT = extend_schema(
    operation_id="logout",
    summary="Log out: revoke the refresh token's session",
    description="Unknown or already revoked tokens get the same answer (RFC 7009).",
    request=serializers.RefreshTokenSerializer,
    responses={
        200: serializers.LogoutSerializer,
        400: validation_error("refresh_token", "required", "This field is required."),
    },
    examples=[
        sent("logout", REFRESH_TOKEN_EXAMPLE),
        answered("logged out", {"success": "User logged out."}),
    ],
)

ME_READ = extend_schema(
    operation_id="me_read",
    summary="Read your profile",
    responses={200: serializers.ProfileSerializer, 401: UNAUTHORIZED},
    examples=[PROFILE_EXAMPLE],
)

ME_UPDATE_DESCRIPTION = (
    "A new e-mail needs a live session and a password checked within the re-authentication "
    "window (10 minutes by default; right after a login it is), or `current_password` in the "
    "same body; otherwise 401 `insufficient_user_authentication` with `WWW-Authenticate: "
    'Bearer error="insufficient_user_authentication", max_age=...` (RFC 9470). E-mail '
    "changes are throttled per user and per address. A username needs none of it. The old "
    "address is mailed a notice with a link that undoes the change, and the new one a "
    "verification link. Where the stage waits for the new address's verification "
    "(`EMAIL_CHANGE_POLICY=confirm`), the e-mail stays as it was and the answer adds "
    "`pending_email`, the login once its link is followed."
)
ME_UPDATE_RESPONSES = {
    200: serializers.ProfileSerializer,
    400: field_error(EmailTaken),
    401: error(
        "Invalid token, an ended session, or a password check too old for a new e-mail "
        "(RFC 9470, with `WWW-Authenticate`).",
        ReauthenticationRequired,
    ),
    429: error("Too many e-mail changes (with `Retry-After`).", EmailChangeThrottled),
}
ME_UPDATE = extend_schema(
    operation_id="me_update",
    summary="Update your username and/or e-mail",
    description=ME_UPDATE_DESCRIPTION,
    request=serializers.ProfileUpdateSerializer,
    responses=ME_UPDATE_RESPONSES,
    examples=[
        sent("username", {"username": "John Smith"}),
        sent("email", {"email": "newuser@example.com"}),
        sent(
            "email with the password",
            {"email": "newuser@example.com", "current_password": EXAMPLE_PASSWORD},
        ),
        PROFILE_EXAMPLE,
        answered(
            "pending (EMAIL_CHANGE_POLICY=confirm)",
            {
                "id": 1,
                "username": "John Smith",
                "email": EXAMPLE_EMAIL,
                "pending_email": "newuser@example.com",
            },
        ),
    ],
)

ME_PARTIAL_UPDATE = extend_schema(
    operation_id="me_partial_update",
    summary="Update your username and/or e-mail (same as PUT)",
    description=ME_UPDATE_DESCRIPTION,
    request=serializers.ProfileUpdateSerializer,
    responses={
        **ME_UPDATE_RESPONSES,
        400: validation_error("email", "invalid", "Enter a valid email address."),
    },
)


EXAMPLE_SESSION = {
    "id": "3f1c2d8e-5b7a-4c21-9f0e-8a6d4b2c1e90",
    "created_at": "2026-11-24T08:00:00Z",
    "last_used_at": "2026-11-24T08:30:00Z",
    "expires_at": "2027-02-22T08:00:00Z",
    "user_agent": "Mozilla/5.0",
    "ip_address": "203.0.113.7",
    "current": True,
}
SESSIONS = extend_schema(
    operation_id="sessions_list",
    summary="List your live sessions, newest first, a page at a time",
    description=(
        "A session is one login and the refresh tokens it rotates through. Pages of 50 by "
        "default (`page_size` up to 100); follow `next` for the next page."
    ),
    responses={
        200: serializers.SessionSerializer(many=True),
        401: SESSION_ENDED,
        404: BAD_CURSOR,
    },
    examples=[
        # drf-spectacular wraps it in the page (next, previous, results).
        answered("sessions", EXAMPLE_SESSION)
    ],
)
EXAMPLE_EVENT = {
    "id": 4211,
    "event": "session_expired",
    "reason": "ended_by_user",
    "at": "2026-11-24T09:15:00Z",
    "session_id": EXAMPLE_SESSION["id"],
    "client_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0",
}
EVENTS = extend_schema(
    operation_id="events_list",
    summary="List what happened to your account, newest first, a page at a time",
    description=(
        "Your account's security events: logins and failed logins, sessions started and "
        "ended (and why), password and e-mail changes, resets, locks and limits reached, each "
        "with the address and user agent of the client that caused it. Kept for 90 days by "
        "default (`SECURITY_EVENT_RETENTION_DAYS`). Only your account's: an e-mail typed at a "
        "failed login is never shown. Pages of 50 by default (`page_size` up to 100); follow "
        "`next` for older events."
    ),
    responses={
        200: serializers.SecurityEventSerializer(many=True),
        401: SESSION_ENDED,
        404: BAD_CURSOR,
    },
    examples=[
        # drf-spectacular wraps it in the page (next, previous, results).
        answered("events", EXAMPLE_EVENT)
    ],
)
SESSION_END = extend_schema(
    operation_id="session_end",
    summary="End one of your sessions: its refresh tokens stop working",
    description="Its access tokens live out their lifetime (30 s by default).",
    responses={
        204: None,
        401: SESSION_ENDED,
        404: error("Not a session of yours (the same answer for any other id).", SessionNotFound),
    },
)
LOGOUT_ALL = extend_schema(
    operation_id="logout_all",
    summary="Log out of every session",
    request=None,
    responses={200: serializers.LogoutSerializer, 401: SESSION_ENDED},
    examples=[answered("logged out everywhere", {"success": "User logged out of every session."})],
)
PASSWORD_CHANGE = extend_schema(
    operation_id="password_change",
    summary="Change your password: every other session ends",
    description=(
        "A wrong current password counts toward the failed-login throttle, a right one "
        "toward the login limit. The new password must differ from the current one. The "
        "answer is a fresh pair for the session that made the change."
    ),
    request=serializers.PasswordChangeSerializer,
    responses={
        200: serializers.TokenPairSerializer,
        400: field_error(WrongPassword),
        401: SESSION_ENDED,
        429: error("Too many password checks (with `Retry-After`).", TooManyLogins),
    },
    examples=[
        sent(
            "change", {"current_password": EXAMPLE_PASSWORD, "new_password": "another-long-phrase"}
        ),
        TOKENS_EXAMPLE,
    ],
)

EXAMPLE_MAIL_TOKEN = "Jx3kQb0t2mV9wYp4sLr8uEc6nHa1dZf5gTi7oKq0-_A"
MAIL_TOKEN_EXAMPLE = {"token": EXAMPLE_MAIL_TOKEN}
MAIL_LIMITS = error(
    "Too many messages asked for this e-mail or from this address (with `Retry-After`).",
    MailThrottled,
)

ME_EMAIL = extend_schema(
    operation_id="me_email",
    summary="Read your e-mail's verification state",
    responses={200: serializers.EmailStatusSerializer, 401: UNAUTHORIZED},
    examples=[
        answered(
            "unverified",
            {
                "email": EXAMPLE_EMAIL,
                "email_verified": False,
                "email_verified_at": None,
                "pending_email": "",
            },
        )
    ],
)
PASSWORD_RESET = extend_schema(
    operation_id="password_reset",
    summary="Ask for a password reset link by mail",
    description=(
        "The same answer whether the address has an account, none, or an inactive one; the "
        "message goes out after the response. Its link opens `/password/reset/?token=...`, "
        "valid once, for an hour by default, and void once the password changes or a newer "
        "reset is asked for."
    ),
    request=serializers.PasswordResetSerializer,
    responses={
        202: serializers.DetailSerializer,
        400: validation_error("email", "invalid", "Enter a valid email address."),
        429: MAIL_LIMITS,
    },
    examples=[
        sent("reset", {"email": EXAMPLE_EMAIL}),
        answered(
            "asked",
            {
                "detail": "If an account has this address, a link to choose a new password "
                "is on its way to it."
            },
        ),
    ],
)
PASSWORD_RESET_CONFIRM = extend_schema(
    operation_id="password_reset_confirm",
    summary="Set a new password with a reset link's token: every session ends",
    description=(
        "Logs in: the answer is a pair for a new session. The address the link went to is "
        "verified and its failed-login lock lifted. A rejected password leaves the token "
        "usable."
    ),
    request=serializers.PasswordResetConfirmSerializer,
    responses={
        200: serializers.TokenPairSerializer,
        400: OpenApiResponse(
            ErrorSerializer,
            description="A token unknown, used, expired or superseded; or a rejected password.",
            examples=[
                error_example(InvalidResetToken.code, InvalidResetToken.default_message),
                field_example(
                    PasswordRejected.field,
                    PasswordRejected.code,
                    "This password is too common.",
                    name=PasswordRejected.code,
                ),
            ],
        ),
    },
    examples=[
        sent("confirm", {"token": EXAMPLE_MAIL_TOKEN, "new_password": "another-long-phrase"}),
        TOKENS_EXAMPLE,
    ],
)
EMAIL_VERIFY = extend_schema(
    operation_id="email_verify",
    summary="Confirm an e-mail address with a verification link's token",
    description=(
        "A pending e-mail (`EMAIL_CHANGE_POLICY=confirm`) becomes the login, and its old "
        "address is mailed a notice with a link that undoes the change."
    ),
    request=serializers.MailTokenSerializer,
    responses={
        200: serializers.EmailVerifiedSerializer,
        400: error(
            "A token unknown, used, expired, superseded, or for an address the account no "
            "longer has.",
            InvalidVerificationToken,
        ),
    },
    examples=[
        sent("verify", MAIL_TOKEN_EXAMPLE),
        answered("verified", {"detail": "Address confirmed.", "email": EXAMPLE_EMAIL}),
    ],
)
EMAIL_VERIFY_RESEND = extend_schema(
    operation_id="email_verify_resend",
    summary="Mail your unverified or pending address a new verification link",
    request=None,
    responses={
        202: serializers.DetailSerializer,
        400: error(
            "Nothing to verify: the address is verified, none pending.", EmailAlreadyVerified
        ),
        401: SESSION_ENDED,
        429: MAIL_LIMITS,
    },
    examples=[
        answered("sent", {"detail": "A new verification link is on its way to your address."})
    ],
)
EMAIL_REVERT = extend_schema(
    operation_id="email_revert",
    summary="Undo an e-mail change with the old address's link (\"this wasn't me\")",
    description=(
        "The old address is the login again, verified; every session ends; the password no "
        "longer logs in, and the old address is mailed a reset link. The link works once, "
        "for 7 days by default."
    ),
    request=serializers.MailTokenSerializer,
    responses={
        200: serializers.DetailSerializer,
        400: error("A token unknown, used or expired.", InvalidRevertToken),
    },
    examples=[
        sent("revert", MAIL_TOKEN_EXAMPLE),
        answered(
            "reverted",
            {
                "detail": "The old address is back and every session has ended. A link to "
                "choose a new password is on its way to it."
            },
        ),
    ],
)


EXAMPLE_ISSUER = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
EXAMPLE_KID = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
_CACHED = (
    "Public and cacheable: `Cache-Control: public, max-age=JWKS_MAX_AGE_SECONDS` (300 s by "
    "default), shorter than a next key is announced before it signs."
)
NOT_ACCEPTABLE = _example(
    "The `Accept` header names no JSON type.",
    "not_acceptable",
    "Could not satisfy the request Accept header.",
)
JWKS = extend_schema(
    operation_id="jwks",
    summary="The public keys that verify access tokens",
    description=(
        "A JSON Web Key Set (RFC 7517 section 5): the signing key, the next key announced and "
        "the previous keys still accepted, each with its `kid` (the RFC 7638 thumbprint that "
        "tokens name in their header). Public values only. " + _CACHED
    ),
    auth=[],
    responses={
        200: OpenApiResponse(
            inline_serializer(
                "JSONWebKeySet",
                {"keys": fields.ListField(child=fields.DictField())},
            ),
            description="The key set.",
        ),
        406: NOT_ACCEPTABLE,
    },
    examples=[
        answered(
            "RS256 key",
            {
                "keys": [
                    {
                        "kty": "RSA",
                        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbf...",
                        "e": "AQAB",
                        "kid": EXAMPLE_KID,
                        "alg": "RS256",
                        "use": "sig",
                    }
                ]
            },
        )
    ],
)
DISCOVERY = extend_schema(
    operation_id="openid_configuration",
    summary="Where the keys are: the discovery document",
    description=(
        "OpenID Connect Discovery 1.0 metadata, as API Gateway's JWT authorizer reads it: "
        "`issuer` is byte-equal to the tokens' `iss`, `jwks_uri` is `{issuer}/.well-known/"
        "jwks.json`. " + _CACHED
    ),
    auth=[],
    responses={
        200: OpenApiResponse(
            inline_serializer(
                "OpenIDConfiguration",
                {
                    "issuer": fields.URLField(),
                    "jwks_uri": fields.URLField(),
                    "response_types_supported": fields.ListField(child=fields.CharField()),
                    "subject_types_supported": fields.ListField(child=fields.CharField()),
                    "id_token_signing_alg_values_supported": fields.ListField(
                        child=fields.CharField()
                    ),
                    "token_endpoint_auth_methods_supported": fields.ListField(
                        child=fields.CharField()
                    ),
                    "claims_supported": fields.ListField(child=fields.CharField()),
                },
            ),
            description="The metadata.",
        ),
        406: NOT_ACCEPTABLE,
    },
    examples=[
        answered(
            "stage",
            {
                "issuer": EXAMPLE_ISSUER,
                "jwks_uri": f"{EXAMPLE_ISSUER}/.well-known/jwks.json",
                "response_types_supported": ["token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["none"],
                "claims_supported": ["iss", "aud", "sub", "exp", "nbf", "iat", "auth_time"],
            },
        )
    ],
)

HEALTH = extend_schema(
    operation_id="health",
    summary="Whether this instance can serve: its database answers one cheap query",
    description="For a load balancer or a deploy check; says nothing of the version.",
    responses={
        200: serializers.HealthSerializer,
        503: _example(
            "The database does not answer (with `Retry-After`).",
            "service_unavailable",
            "The service is temporarily unavailable; try again shortly.",
        ),
    },
    examples=[answered("ok", {"status": "ok"})],
)


def _describe(view: str, **methods) -> None:
    """Register how the view class at dotted path ``view`` is described, method by method."""

    def view_replacement(self):
        described = type(self.target.__name__, (self.target,), {})
        for method, description in methods.items():
            original = getattr(self.target, method)

            def handler(view_self, request, *args, _original=original, **kwargs):
                return _original(view_self, request, *args, **kwargs)

            setattr(described, method, description(handler))
        return described

    type(
        f"{view.rsplit('.', 1)[1]}Description",
        (OpenApiViewExtension,),
        {"target_class": view, "view_replacement": view_replacement},
    )


_describe("app.accounts.views.APIRootView", get=EXCLUDED)
_describe("app.accounts.views.RegisterView", post=REGISTER)
_describe("app.accounts.views.LoginView", post=LOGIN)
_describe("app.accounts.views.RefreshView", post=REFRESH)
_describe("app.accounts.views.LogoutView", post=LOGOUT)
_describe("app.accounts.views.MeView", get=ME_READ, put=ME_UPDATE, patch=ME_PARTIAL_UPDATE)
_describe("app.accounts.views.LogoutAllView", post=LOGOUT_ALL)
_describe("app.accounts.views.SessionsView", get=SESSIONS)
_describe("app.accounts.views.SessionView", delete=SESSION_END)
_describe("app.accounts.views.PasswordView", post=PASSWORD_CHANGE)
_describe("app.accounts.views.MeEmailView", get=ME_EMAIL)
_describe("app.accounts.views.EventsView", get=EVENTS)
_describe("app.accounts.views.PasswordResetView", post=PASSWORD_RESET)
_describe("app.accounts.views.PasswordResetConfirmView", post=PASSWORD_RESET_CONFIRM)
_describe("app.accounts.views.EmailVerifyView", post=EMAIL_VERIFY)
_describe("app.accounts.views.EmailVerifyResendView", post=EMAIL_VERIFY_RESEND)
_describe("app.accounts.views.EmailRevertView", post=EMAIL_REVERT)
_describe("app.accounts.views.PublishedKeysView", get=JWKS)
_describe("app.accounts.views.DiscoveryView", get=DISCOVERY)
_describe("app.accounts.views.HealthView", get=HEALTH)
