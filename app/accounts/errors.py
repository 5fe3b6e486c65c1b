"""Domain errors of the accounts app: plain exceptions with a stable snake_case ``code``.

They know nothing of HTTP; ``exception_handler.py`` gives each its status, once.
"""


class AccountsError(Exception):
    """Base of every domain error; ``code`` is stable, the message is for people."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class EmailTaken(AccountsError):
    code = "unique"
    default_message = "A user with that e-mail address already exists."
    field = "email"


class InvalidCredentials(AccountsError):
    code = "invalid_credentials"
    default_message = "No active account was found with the given e-mail and password."


class Throttled(AccountsError):
    """Too many attempts in the current window; ``retry_after`` is when it ends, in seconds."""

    code = "throttled"
    default_message = "Too many attempts."

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"{self.default_message} Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class LoginThrottled(Throttled):
    default_message = "Too many failed logins."


class RegistrationThrottled(Throttled):
    default_message = "Too many registrations from this address."


class InvalidAccessToken(AccountsError):
    code = "invalid_token"
    default_message = "The access token is invalid."


class InvalidRefreshToken(AccountsError):
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
