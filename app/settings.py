"""Settings for the whole project, driven by environment variables.

Debug is off unless ``DJANGO_DEBUG`` turns it on (``scripts/run`` does). With debug off,
start-up stops unless ``DJANGO_SECRET_KEY`` (at least 32 characters), ``JWT_PRIVATE_KEY`` (RSA
of 2048 bits or more, or EC P-256, in PEM) and an https ``JWT_ISSUER`` are set. With debug on and
no keys, random ones are made once and kept in ``.dev-secrets.json`` (ignored by git). The
README lists every variable.
"""

import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MaxValueValidator, MinValueValidator

BASE_DIR = Path(__file__).resolve().parent.parent

# Django's secret key signs sessions and links with HMAC-SHA256: at least 256 bits of it.
MIN_KEY_LENGTH = 32


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no variable; anything but a known spelling stops start-up."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Read a whole-number variable; a value that is not one, or below ``minimum``, stops
    start-up with the variable's name."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def development_secret(
    name: str,
    path: Path = BASE_DIR / ".dev-secrets.json",
    factory: Callable[[], str] = lambda: secrets.token_urlsafe(48),
) -> str:
    """A random key for a debug run (``factory`` makes it), kept in an ignored local file so
    restarts keep it.

    Where the file cannot be written, the key is random for this process only.
    """
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    if not isinstance(stored, dict) or not isinstance(stored.get(name), str):
        stored = stored if isinstance(stored, dict) else {}
        stored[name] = factory()
        with contextlib.suppress(OSError):
            path.write_text(json.dumps(stored, indent=2))
    return stored[name]


def required_secret(name: str) -> str:
    """Return the secret ``name``; only a debug run may go without (``development_secret``)."""
    value = os.environ.get(name, "")
    if not value and DEBUG:
        return development_secret(name)
    if not value:
        raise ImproperlyConfigured(
            f"Set the {name} environment variable: it is required when DJANGO_DEBUG is off."
        )
    if len(value.encode()) < MIN_KEY_LENGTH:
        raise ImproperlyConfigured(f"{name} must be at least {MIN_KEY_LENGTH} bytes long.")
    return value


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = required_secret("DJANGO_SECRET_KEY")

for _replaced in ("JWT_SIGNING_KEY", "JWT_PREVIOUS_SIGNING_KEYS"):
    if _replaced in os.environ:
        raise ImproperlyConfigured(
            f"{_replaced} is gone: access tokens are RS256 or ES256 now. Set JWT_PRIVATE_KEY "
            "(a private key in PEM, `manage.py make_signing_key` prints one), and "
            "JWT_PREVIOUS_PUBLIC_KEYS for public keys still accepted (docs/security.md)."
        )

# Access tokens are signed with an asymmetric key (RFC 7518 section 3), so that any service,
# API Gateway's JWT authorizer among them, can check them from /.well-known/jwks.json.
JWT_ALGORITHM = os.environ.get("JWT_ALGORITHM", "RS256")
if JWT_ALGORITHM not in {"RS256", "ES256"}:
    raise ImproperlyConfigured(f"JWT_ALGORITHM must be RS256 or ES256, not {JWT_ALGORITHM!r}")


def signing_key_pem() -> str:
    """The PEM of ``JWT_PRIVATE_KEY``; only a debug run may go without (a key made once for
    the algorithm and kept in ``.dev-secrets.json``)."""
    value = os.environ.get("JWT_PRIVATE_KEY", "")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set the JWT_PRIVATE_KEY environment variable (a private key in PEM): it is "
            "required when DJANGO_DEBUG is off."
        )
    from app.accounts import keys

    return development_secret(
        f"JWT_PRIVATE_KEY_{JWT_ALGORITHM}", factory=lambda: keys.generate(JWT_ALGORITHM)
    )


def checked_keys() -> tuple[str, str, list[str]]:
    """The signing key, the next key (or "") and the previous public keys, as PEM, each
    parsed once: a key that is not RSA of 2048 bits or more or EC P-256, a signing key of
    another algorithm than ``JWT_ALGORITHM`` or a next key equal to it stops start-up."""
    from app.accounts import keys

    current = signing_key_pem()
    following = os.environ.get("JWT_NEXT_PRIVATE_KEY", "")
    previous = keys.split_pems(os.environ.get("JWT_PREVIOUS_PUBLIC_KEYS", ""))
    if os.environ.get("JWT_PREVIOUS_PUBLIC_KEYS", "").strip() and not previous:
        raise ImproperlyConfigured("JWT_PREVIOUS_PUBLIC_KEYS must hold public keys in PEM.")
    try:
        signing = keys.private_key(current)
        announced = keys.private_key(following) if following else None
        for pem in previous:
            keys.public_key(pem)
    except keys.InvalidKey as error:
        raise ImproperlyConfigured(f"JWT keys: {error}") from None
    if signing.public.algorithm != JWT_ALGORITHM:
        raise ImproperlyConfigured(
            f"JWT_PRIVATE_KEY is a {signing.public.algorithm} key, but JWT_ALGORITHM is "
            f"{JWT_ALGORITHM}."
        )
    if announced is not None and announced.public.kid == signing.public.kid:
        raise ImproperlyConfigured(
            "JWT_NEXT_PRIVATE_KEY equals JWT_PRIVATE_KEY: the next key must be a new one."
        )
    return current, following, previous


# The key that signs access tokens; the next one, published in the JWKS before it signs;
# public keys of earlier signing keys, published and accepted until their last token expired.
JWT_PRIVATE_KEY, JWT_NEXT_PRIVATE_KEY, JWT_PREVIOUS_PUBLIC_KEYS = checked_keys()


def aws_hosts(region: str | None) -> list[str]:
    """Host names of API Gateway and Lambda Function URLs in ``region`` (any id before them)."""
    if not region:
        return []
    return [f".execute-api.{region}.amazonaws.com", f".lambda-url.{region}.on.aws"]


# Lambda sets AWS_REGION; a custom domain goes in DJANGO_ALLOWED_HOSTS.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]") + aws_hosts(
    os.environ.get("AWS_REGION")
)

INSTALLED_APPS = [
    "app.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "constance",
    "app.accounts",
]

MIDDLEWARE = [
    # First, so that its one line per request times and sees every answer, as the next one.
    "app.logs.request_log",
    # Early, so that answers the others make on their own (a redirect, a bad host) pass it too.
    "app.middleware.api_no_store",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide template overrides (the ReDoc page without third-party fonts).
        "DIRS": [BASE_DIR / "app" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
            # A warm Lambda keeps its connection between invocations; checked before reuse.
            conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 600),
            conn_health_checks=True,
        )
    }
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {error}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take the write lock when a transaction starts, so concurrent writers wait instead of
    # failing with "database is locked" halfway through.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"

AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# strict (the default): Django's four validators. basic: the minimum length only, for a demo
# stage that must take the example password "password" as it is written.
PASSWORD_POLICY = os.environ.get("PASSWORD_POLICY", "strict")
if PASSWORD_POLICY not in {"strict", "basic"}:
    raise ImproperlyConfigured(f"PASSWORD_POLICY must be strict or basic, not {PASSWORD_POLICY!r}")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
if PASSWORD_POLICY == "strict":
    AUTH_PASSWORD_VALIDATORS += [
        {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
        {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    ]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files ship inside the Lambda package (collectstatic) and WhiteNoise serves them; the
# storage puts API Gateway's stage prefix in front of their URLs.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The front door's script and style.
STATICFILES_DIRS = [BASE_DIR / "app" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "app.storages.StaticStorage"},
}
# Pages link the hashed names only: the unhashed copies would double the package.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
if DEBUG:
    # No collectstatic needed in development: WhiteNoise serves the apps' files directly.
    STORAGES["staticfiles"] = {"BACKEND": "app.storages.DevelopmentStaticStorage"}
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A JSON API has no business with large bodies; the API answers 413 past this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["app.accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["app.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "app.browsable.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "app.error_handlers.api_exception_handler",
    "VIEW_DESCRIPTION_FUNCTION": "app.browsable.view_description",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Authentication API",
    "DESCRIPTION": (
        "Register, log in with e-mail and password, refresh the token pair, log out and "
        "read or update your profile. Access tokens are short-lived JWTs sent as "
        "`Authorization: Bearer <token>`; refresh tokens are single-use UUIDs."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "DEFAULT_GENERATOR_CLASS": "app.accounts.schema_hooks.SchemaGenerator",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "app.accounts.schema_hooks.add_session_links",
        "app.accounts.schema_hooks.add_script_prefix_server",
    ],
}

# Mail. DJANGO_EMAIL_BACKEND names a backend: file (one file per message in
# DJANGO_EMAIL_FILE_PATH, the default with debug on), console, smtp (Django's EMAIL_HOST...
# variables, the default elsewhere), ses (Amazon SES through django-ses, the default on Lambda;
# boto3 is imported only when a message goes out), memory, or a dotted path.
EMAIL_BACKENDS = {
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "ses": "django_ses.SESBackend",
    "memory": "django.core.mail.backends.locmem.EmailBackend",
}
ON_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
_email_backend = os.environ.get("DJANGO_EMAIL_BACKEND") or (
    "ses" if ON_LAMBDA else "file" if DEBUG else "smtp"
)
if "." not in _email_backend and _email_backend not in EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        f"DJANGO_EMAIL_BACKEND must be one of {', '.join(EMAIL_BACKENDS)} or a dotted path, "
        f"not {_email_backend!r}"
    )
EMAIL_BACKEND = EMAIL_BACKENDS.get(_email_backend, _email_backend)
EMAIL_FILE_PATH = os.environ.get("DJANGO_EMAIL_FILE_PATH") or str(BASE_DIR / "build" / "mail")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get(
    "DJANGO_DEFAULT_FROM_EMAIL", "Authentication API <no-reply@localhost>"
)
# SES in the function's own region (django-ses reads these when it sends), with the function's
# own credentials from its environment.
AWS_SES_REGION_NAME = os.environ.get("AWS_SES_REGION_NAME") or os.environ.get(
    "AWS_REGION", "eu-west-1"
)
# No endpoint of our own: django-ses would otherwise pass https://email.REGION.amazonaws.com to
# boto3, which then ignores AWS_ENDPOINT_URL_SES and AWS_ENDPOINT_URL (how a stand-in such as
# moto is reached). boto3 resolves the same regional endpoint by itself.
# https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
AWS_SES_REGION_ENDPOINT_URL = None
# Off: django-ses's throttle asks SES for the account's quota (ses:GetSendQuota, which IAM
# cannot narrow to one identity) before each message. An invocation sends one message; one that
# SES throttles fails, and Lambda retries an asynchronous invocation (twice, minutes apart).
# https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
AWS_SES_AUTO_THROTTLE = None
# On Lambda, messages go out from an asynchronous invocation of the function, after the
# response (app/tasks.py); elsewhere in the request's process.
TASKS_IN_BACKGROUND = env_bool("TASKS_IN_BACKGROUND", default=ON_LAMBDA)
# The product's name in every message.
PRODUCT_NAME = os.environ.get("PRODUCT_NAME", "Authentication API")
# Where the links in messages point: set it to the stage's public URL (a custom domain, or
# API Gateway's URL with its stage); unset, links use the origin and prefix of the request
# that asked for the message, as the front door's own links do.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL must be an http(s) URL, not {PUBLIC_BASE_URL!r}")


def jwt_issuer() -> str:
    """The ``iss`` of our tokens and of the discovery document: ``JWT_ISSUER``, else
    ``PUBLIC_BASE_URL`` (``scripts/deploy`` sets both to the stage's URL), else in debug the
    development server. Debug off, it must be https (RFC 8414 section 2), or http on a
    loopback address for a local server (RFC 8252 section 8.3's exception)."""
    issuer = (os.environ.get("JWT_ISSUER") or PUBLIC_BASE_URL).rstrip("/")
    if not issuer and DEBUG:
        return "http://127.0.0.1:8000"
    if not issuer and ON_LAMBDA:
        # A stage's first version: its URL exists only once it is deployed, and
        # scripts/deploy then sets it and publishes again. Until then no token is issued
        # (tokens.IssuerUnknown, a 503), but the function starts, so the deploy can finish.
        return ""
    if not issuer:
        raise ImproperlyConfigured(
            "Set JWT_ISSUER (or PUBLIC_BASE_URL) to the stage's https URL: it is required "
            "when DJANGO_DEBUG is off."
        )
    loopback = re.fullmatch(r"http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/.*)?", issuer)
    plain_allowed = DEBUG and issuer.startswith("http://")
    if not (issuer.startswith("https://") or plain_allowed or loopback):
        raise ImproperlyConfigured(f"JWT_ISSUER must be an https URL, not {issuer!r}")
    if "?" in issuer or "#" in issuer:
        raise ImproperlyConfigured(f"JWT_ISSUER may have no query or fragment: {issuer!r}")
    return issuer


# The iss claim of every access token, byte-equal to the discovery document's issuer.
JWT_ISSUER = jwt_issuer()
# The aud claim: what a JWT authorizer in front of another function is configured to accept.
JWT_AUDIENCE = os.environ.get("JWT_AUDIENCE", "auth-api")
if not JWT_AUDIENCE:
    raise ImproperlyConfigured("JWT_AUDIENCE may not be empty.")
# How long a client or API Gateway may keep /.well-known/jwks.json: shorter than the time a
# next key is announced before it signs (docs/security.md), so no cache misses it.
JWKS_MAX_AGE = env_int("JWKS_MAX_AGE_SECONDS", 300)

# immediate: a new e-mail applies at once (and is then verified); confirm: it waits as the
# user's pending e-mail until the new address's verification link is followed.
EMAIL_CHANGE_POLICY = os.environ.get("EMAIL_CHANGE_POLICY", "immediate")
if EMAIL_CHANGE_POLICY not in {"immediate", "confirm"}:
    raise ImproperlyConfigured(
        f"EMAIL_CHANGE_POLICY must be immediate or confirm, not {EMAIL_CHANGE_POLICY!r}"
    )
# Whether a login needs a verified e-mail (403 email_not_verified otherwise).
REQUIRE_VERIFIED_EMAIL = env_bool("REQUIRE_VERIFIED_EMAIL", default=False)

# Live settings, edited by staff on the admin's Constance page; read at call time.
CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
# The longest access token we sign; tokens claiming a longer life are refused.
ACCESS_TOKEN_MAX_LIFETIME = timedelta(days=1)
# The bounds of each live setting: the admin's form enforces them, and a value written past
# the form is held within them where it is read (app/accounts/lifetimes.py).
LIVE_SETTING_BOUNDS = {
    "access": (timedelta(seconds=1), ACCESS_TOKEN_MAX_LIFETIME),
    "refresh": (timedelta(minutes=1), timedelta(days=365)),
    "session": (timedelta(minutes=1), timedelta(days=365)),
    "reuse_interval": (timedelta(0), timedelta(minutes=5)),
    "reauthentication": (timedelta(0), timedelta(days=1)),
    "password_reset": (timedelta(minutes=5), timedelta(days=1)),
    "email_verification": (timedelta(minutes=5), timedelta(days=30)),
    "email_revert": (timedelta(hours=1), timedelta(days=30)),
    "event_retention": (timedelta(days=1), timedelta(days=3650)),
}


def _seconds_field(bounds: tuple[timedelta, timedelta]) -> list:
    low, high = (int(bound.total_seconds()) for bound in bounds)
    return ["django.forms.IntegerField", {"min_value": low, "max_value": high}]


def _days_field(bounds: tuple[timedelta, timedelta]) -> list:
    low, high = (bound.days for bound in bounds)
    return ["django.forms.IntegerField", {"min_value": low, "max_value": high}]


def _duration_field(bounds: tuple[timedelta, timedelta]) -> list:
    low, high = bounds
    return [
        "django.forms.DurationField",
        {"validators": [MinValueValidator(low), MaxValueValidator(high)]},
    ]


CONSTANCE_ADDITIONAL_FIELDS = {
    "lifetime_seconds": _seconds_field(LIVE_SETTING_BOUNDS["access"]),
    "refresh_duration": _duration_field(LIVE_SETTING_BOUNDS["refresh"]),
    "session_duration": _duration_field(LIVE_SETTING_BOUNDS["session"]),
    "reuse_seconds": _seconds_field(LIVE_SETTING_BOUNDS["reuse_interval"]),
    "reauthentication_seconds": _seconds_field(LIVE_SETTING_BOUNDS["reauthentication"]),
    "reset_duration": _duration_field(LIVE_SETTING_BOUNDS["password_reset"]),
    "verification_duration": _duration_field(LIVE_SETTING_BOUNDS["email_verification"]),
    "revert_duration": _duration_field(LIVE_SETTING_BOUNDS["email_revert"]),
    "retention_days": _days_field(LIVE_SETTING_BOUNDS["event_retention"]),
}
CONSTANCE_CONFIG = {
    "ACCESS_TOKEN_LIFETIME": (
        30,
        "Lifetime of a new access token (JWT), in seconds. Applies to tokens issued from now on.",
        "lifetime_seconds",
    ),
    "REFRESH_TOKEN_LIFETIME": (
        timedelta(days=30),
        "Lifetime of a new refresh token, as 'DD HH:MM:SS' (30 00:00:00 is 30 days), at most "
        "a year. Applies to tokens issued from now on.",
        "refresh_duration",
    ),
    "SESSION_LIFETIME": (
        timedelta(days=90),
        "Absolute lifetime of a session from its login, as 'DD HH:MM:SS', at most a year: "
        "refreshes never extend it. Applies to sessions started from now on.",
        "session_duration",
    ),
    "REFRESH_REUSE_INTERVAL": (
        10,
        "Seconds after its first use during which a refresh token shown again (a retry, a "
        "second tab) gets the same successor instead of ending the session; 0 turns it off.",
        "reuse_seconds",
    ),
    "REAUTHENTICATION_WINDOW": (
        600,
        "Seconds after a session's password check during which its access tokens may change "
        "the e-mail without current_password (RFC 9470 max_age).",
        "reauthentication_seconds",
    ),
    "PASSWORD_RESET_LIFETIME": (
        timedelta(hours=1),
        "How long a password reset link works, as 'DD HH:MM:SS' (5 minutes to a day). "
        "Applies to links sent from now on.",
        "reset_duration",
    ),
    "EMAIL_VERIFICATION_LIFETIME": (
        timedelta(days=2),
        "How long an e-mail verification link works, as 'DD HH:MM:SS' (5 minutes to 30 days). "
        "Applies to links sent from now on.",
        "verification_duration",
    ),
    "EMAIL_REVERT_LIFETIME": (
        timedelta(days=7),
        "How long the old address's 'this wasn't me' link undoes an e-mail change, as "
        "'DD HH:MM:SS' (an hour to 30 days). Applies to changes from now on.",
        "revert_duration",
    ),
    "SECURITY_EVENT_RETENTION_DAYS": (
        90,
        "Days a security event is kept (1 to 3650): the daily purge deletes older ones, and "
        "with them what users see at /api/me/events/ and staff in the admin.",
        "retention_days",
    ),
}

if "LOGIN_THROTTLE_PER_EMAIL" in os.environ:
    raise ImproperlyConfigured(
        "LOGIN_THROTTLE_PER_EMAIL is now LOGIN_THROTTLE_PER_PAIR (wrong passwords for one "
        "e-mail from one address); the e-mail's ceiling is LOGIN_THROTTLE_CEILING."
    )

# Password checks (API login, password and e-mail changes, the admin's form), counted in the
# database before the password is checked; a refused attempt counts nowhere (throttling.py).
# Wrong passwords: per (e-mail, address) pair and per address in a short window, per e-mail
# from every address in a long one; successes per e-mail and per address in the short one.
LOGIN_THROTTLE = {
    "window_seconds": env_int("LOGIN_THROTTLE_WINDOW", 300, minimum=1),
    "per_pair": env_int("LOGIN_THROTTLE_PER_PAIR", 5),
    "per_address": env_int("LOGIN_THROTTLE_PER_ADDRESS", 20),
    "ceiling_window_seconds": env_int("LOGIN_THROTTLE_CEILING_WINDOW", 86400, minimum=1),
    "ceiling": env_int("LOGIN_THROTTLE_CEILING", 100),
    "successes": env_int("LOGIN_THROTTLE_SUCCESSES", 30),
}

# Registrations per client address per fixed window (each is an Argon2 hash of server time).
REGISTER_THROTTLE = {
    "window_seconds": env_int("REGISTER_THROTTLE_WINDOW", 3600, minimum=1),
    "per_address": env_int("REGISTER_THROTTLE_PER_ADDRESS", 20),
}

# E-mail changes per user and per address: their answer says whether an address is taken.
EMAIL_CHANGE_THROTTLE = {
    "window_seconds": env_int("EMAIL_CHANGE_THROTTLE_WINDOW", 3600, minimum=1),
    "per_user": env_int("EMAIL_CHANGE_THROTTLE_PER_USER", 20),
    "per_address": env_int("EMAIL_CHANGE_THROTTLE_PER_ADDRESS", 20),
}

# Messages with a link (password resets, verification) per e-mail and per client address: each
# lands in someone's inbox, so a stranger must not be able to flood one.
MAIL_THROTTLE = {
    "window_seconds": env_int("MAIL_THROTTLE_WINDOW", 3600, minimum=1),
    "per_email": env_int("MAIL_THROTTLE_PER_EMAIL", 5),
    "per_address": env_int("MAIL_THROTTLE_PER_ADDRESS", 20),
}

# Live sessions a user may hold; a login past it ends the least recently used.
SESSIONS_PER_USER = env_int("SESSIONS_PER_USER", 100, minimum=1)

# One page of GET /api/sessions/, and the most a client may ask for.
SESSIONS_PAGE_SIZE = 50
SESSIONS_MAX_PAGE_SIZE = 100
# One page of GET /api/me/events/, and the most a client may ask for.
EVENTS_PAGE_SIZE = 50
EVENTS_MAX_PAGE_SIZE = 100

# Clock skew tolerated when judging an access token's iat and exp (RFC 7519 section 4.1.4).
JWT_LEEWAY = timedelta(seconds=env_int("JWT_LEEWAY_SECONDS", 5))

LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "WARNING")
# json: one object per line with Powertools' field names, which CloudWatch Logs Insights
# queries by; text: a line for people. app/logs.py owns both.
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "json" if ON_LAMBDA else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
# Powertools' variable names, so that a function using Powertools beside this one agrees.
SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME", "auth-api")
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "AuthApi")
# emf: counters as CloudWatch Embedded Metric Format lines on stdout (app/metrics.py); off.
METRICS = os.environ.get("DJANGO_METRICS", "emf" if ON_LAMBDA else "off")
if METRICS not in {"emf", "off"}:
    raise ImproperlyConfigured(f"DJANGO_METRICS must be emf or off, not {METRICS!r}")


def _logging() -> dict:
    from app.logs import logging_config

    return logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL, service=SERVICE_NAME)


LOGGING = _logging()

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 60 * 60 * 24 * 365)
    # Opt-in: both bind every subdomain, and preload the browsers' lists, for a long time.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
    # Said above, on purpose: the deploy checklist would warn about each while they are off.
    SILENCED_SYSTEM_CHECKS = [
        check
        for check, on in (
            ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
            ("security.W021", SECURE_HSTS_PRELOAD),
        )
        if not on
    ]
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# Our HTML pages (admin, Swagger UI, ReDoc, the browsable API) load scripts from our origin
# only; Swagger UI and ReDoc style with inline styles and draw icons from data: URIs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
