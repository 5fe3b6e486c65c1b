"""Domain errors of the accounts app: code, message and HTTP status, each in one place.

Services raise them; ``app/error_handlers.py`` answers them; ``schema.py`` documents them.
"""

from app.errors import DomainError, FieldError, Throttled, Unauthorized


class AccountsError(DomainError):
    """Base of the accounts app's errors."""


class EmailTaken(FieldError, AccountsError):
    code = "unique"
    default_message = "A user with that e-mail address already exists."
    field = "email"


class InvalidCredentials(Unauthorized, AccountsError):
    code = "invalid_credentials"
    default_message = "No active account was found with the given e-mail and password."


class LoginThrottled(Throttled, AccountsError):
    default_message = "Too many failed logins."


class TooManyLogins(Throttled, AccountsError):
    default_message = "Too many logins for this account or from this address."


class EmailChangeThrottled(Throttled, AccountsError):
    default_message = "Too many e-mail changes."


class RegistrationThrottled(Throttled, AccountsError):
    default_message = "Too many registrations from this address."


class SessionNotFound(AccountsError):
    status = 404
    code = "not_found"
    default_message = "No such session."


class WrongPassword(FieldError, AccountsError):
    code = "wrong_password"
    default_message = "The current password is wrong."
    field = "current_password"


class PasswordRejected(FieldError, AccountsError):
    code = "password_rejected"
    default_message = "This password is not allowed."
    field = "new_password"


class PasswordUnchanged(PasswordRejected):
    default_message = "The new password must differ from the current one."


class InvalidAccessToken(Unauthorized, AccountsError):
    code = "invalid_token"
    default_message = "The access token is invalid."


class UserGone(InvalidAccessToken):
    default_message = "The user of this token is inactive or no longer exists."


class SessionEnded(InvalidAccessToken):
    default_message = "The session of this token has ended."


class ReauthenticationRequired(Unauthorized, AccountsError):
    """RFC 9470: the token is valid, but its password check is too old for this change."""

    code = "insufficient_user_authentication"
    default_message = (
        "Changing the e-mail needs a recent login: send current_password with the change, "
        "or log in again."
    )

    def __init__(self, max_age: int) -> None:
        super().__init__()
        self.max_age = max_age

    def challenge(self) -> dict[str, str]:
        """The ``WWW-Authenticate`` parameters of RFC 9470 section 3."""
        return {"error": self.code, "max_age": str(self.max_age)}


class InvalidRefreshToken(Unauthorized, AccountsError):
    code = "invalid_refresh_token"
    default_message = "The refresh token is invalid or has been revoked."


class RefreshTokenExpired(InvalidRefreshToken):
    code = "refresh_token_expired"
    default_message = "The refresh token has expired."


class RefreshTokenReused(InvalidRefreshToken):
    code = "refresh_token_reused"
    default_message = (
        "The refresh token was already used; every token of its session has been revoked."
    )


class MailThrottled(Throttled, AccountsError):
    default_message = "Too many messages asked for this address or from this address."


class EmailNotVerified(AccountsError):
    status = 403
    code = "email_not_verified"
    default_message = (
        "This account's e-mail address is not verified yet: follow the link we sent to it, or "
        "ask for a password reset, whose link verifies the address too."
    )


class EmailAlreadyVerified(AccountsError):
    status = 400
    code = "email_already_verified"
    default_message = "The e-mail address is already verified and no change is waiting."


class InvalidResetToken(AccountsError):
    code = "invalid_reset_token"
    default_message = "This password reset link is invalid, used, expired or superseded."


class InvalidVerificationToken(AccountsError):
    code = "invalid_verification_token"
    default_message = "This verification link is invalid, used, expired or superseded."


class InvalidRevertToken(AccountsError):
    code = "invalid_revert_token"
    default_message = "This link is invalid, used or expired."


class IssuerUnknown(AccountsError):
    """The stage's first version, before ``scripts/deploy`` set its URL as ``JWT_ISSUER``."""

    status = 503
    code = "service_unavailable"
    default_message = (
        "This stage's issuer (JWT_ISSUER) is not set yet: scripts/deploy sets it once the "
        "stage's URL is known. Try again shortly."
    )
