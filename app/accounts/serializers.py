"""Request parsing and response rendering for the accounts API; no writes here."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from app.accounts import tokens
from app.accounts.emails import InvalidEmail, canonical_email
from app.accounts.models import SecurityEvent, Session, User


class _StringOnly:
    """DRF's CharField turns 12 into "12"; a JSON API should say a string was expected."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(_StringOnly, serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}


class _Canonical:
    """Turn what was typed into the stored form before any validator sees it."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return canonical_email(value)
        except InvalidEmail as error:
            raise serializers.ValidationError(str(error), code="invalid") from None


class EmailAddressField(_Canonical, _StringOnly, serializers.EmailField):
    """An e-mail to store: canonical form, then Django's e-mail validator."""


class LoginEmailField(_Canonical, StrictCharField):
    """An e-mail to look up: canonical form, any text (an unknown one fails like a wrong one)."""


class RefreshTokenField(StrictCharField):
    """A refresh token: a UUID in any spelling ``uuid.UUID`` reads, in canonical form after."""

    default_error_messages = {"invalid": "Must be a valid UUID."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return tokens.canonical_refresh_token(value)
        except tokens.InvalidRefreshTokenFormat:
            self.fail("invalid")


def _password_field(**kwargs):
    return StrictCharField(
        max_length=128,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
        **kwargs,
    )


class RegisterSerializer(serializers.Serializer):
    email = EmailAddressField(max_length=254)
    # min_length documents MinimumLengthValidator's 8 in the schema; the validators decide.
    password = _password_field(
        min_length=8,
        help_text="At least 8 characters, not too common, not all digits, not like the e-mail.",
    )

    def validate(self, attrs):
        """Apply Django's password validators, the similarity one against the e-mail."""
        try:
            password_validation.validate_password(
                attrs["password"], user=User(email=attrs["email"])
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(
                {
                    "password": [
                        serializers.ErrorDetail(message, code=each.code or "invalid")
                        for each in error.error_list
                        for message in each.messages
                    ]
                }
            ) from None
        return attrs


class LoginSerializer(serializers.Serializer):
    email = LoginEmailField(max_length=254)
    password = _password_field()


class RefreshTokenSerializer(serializers.Serializer):
    refresh_token = RefreshTokenField()


class ProfileUpdateSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, required=False, allow_blank=True)
    email = EmailAddressField(max_length=254, required=False)
    current_password = _password_field(
        required=False,
        help_text=(
            "Your password: needed with a new e-mail once the session's last password check "
            "is older than the re-authentication window (10 minutes by default)."
        ),
    )


class PasswordChangeSerializer(serializers.Serializer):
    current_password = _password_field()
    # Django's validators judge it in the service, against the user's own attributes.
    new_password = _password_field(min_length=8)


class PasswordResetSerializer(serializers.Serializer):
    email = EmailAddressField(max_length=254)


class MailTokenField(StrictCharField):
    """A token from a link we mailed: any string here, the service tells a wrong one."""

    def __init__(self, **kwargs):
        super().__init__(max_length=128, help_text="The token from the link we mailed.", **kwargs)


class PasswordResetConfirmSerializer(serializers.Serializer):
    token = MailTokenField()
    # Django's validators judge it in the service, against the user's own attributes.
    new_password = _password_field(min_length=8)


class MailTokenSerializer(serializers.Serializer):
    token = MailTokenField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="ok: the database answered.")


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happened, for people.")


class EmailVerifiedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    email = serializers.EmailField(help_text="The address now verified.")


class EmailStatusSerializer(serializers.ModelSerializer):
    """The verification state of the caller's e-mail."""

    email_verified = serializers.SerializerMethodField(
        help_text="Whether the owner of the e-mail followed a link sent to it."
    )

    class Meta:
        model = User
        fields = ["email", "email_verified", "email_verified_at", "pending_email"]
        extra_kwargs = {
            "pending_email": {
                "help_text": (
                    "A new e-mail waiting for its verification link (EMAIL_CHANGE_POLICY="
                    "confirm); not a login until then. Empty when none."
                )
            }
        }

    def get_email_verified(self, user) -> bool:
        return user.email_verified_at is not None


class SessionSerializer(serializers.ModelSerializer):
    """A session as its user sees it: never a token or a digest."""

    current = serializers.SerializerMethodField(
        help_text="Whether the access token of this request belongs to this session."
    )

    class Meta:
        model = Session
        fields = [
            "id",
            "created_at",
            "last_used_at",
            "expires_at",
            "user_agent",
            "ip_address",
            "current",
        ]

    def get_current(self, session) -> bool:
        return str(session.pk) == self.context.get("session_id")


class SecurityEventSerializer(serializers.ModelSerializer):
    """An event of your account. No e-mail: at a failed login it is whatever was typed."""

    event = serializers.ChoiceField(
        source="name",
        choices=SecurityEvent.Name.choices,
        help_text="What happened (OWASP's Logging Vocabulary, and the product's own names).",
    )
    client_address = serializers.IPAddressField(
        source="address",
        allow_null=True,
        help_text="The address of the client that caused it, when known.",
    )

    class Meta:
        model = SecurityEvent
        fields = ["id", "event", "reason", "at", "session_id", "client_address", "user_agent"]
        extra_kwargs = {
            "reason": {
                "help_text": (
                    "How it happened; for session_expired, who or what ended the session. "
                    "Empty when there is nothing to add."
                )
            },
            "session_id": {"help_text": "The session it happened to or in, when any."},
            "user_agent": {"help_text": "The client's User-Agent; empty when none was sent."},
        }


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email"]


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email"]


class PendingProfileSerializer(serializers.ModelSerializer):
    """The profile after a change that waits for the new address's verification."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "pending_email"]
        extra_kwargs = {
            "pending_email": {
                "help_text": "The new e-mail: it becomes the login once its link is followed."
            }
        }


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField(help_text="JWT for `Authorization: Bearer`.")
    refresh_token = serializers.UUIDField(help_text="Single-use token for /api/refresh/.")


class LogoutSerializer(serializers.Serializer):
    success = serializers.CharField()


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (documentation only)."""

    code = serializers.CharField(help_text="Stable snake_case error code.")
    detail = serializers.CharField(help_text="Message for people.")
    fields = serializers.DictField(
        child=FieldErrorSerializer(many=True),
        required=False,
        help_text="Per-field errors, on validation errors only.",
    )
