"""Settings for the whole project, driven by environment variables.

Development (the default outside Lambda) runs with ``DJANGO_DEBUG`` on, SQLite at the repository
root and built-in development keys. With debug off, start-up stops unless ``DJANGO_SECRET_KEY``
and ``JWT_SIGNING_KEY`` are set. The README lists every variable.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import MinValueValidator

BASE_DIR = Path(__file__).resolve().parent.parent

ON_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME" in os.environ


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


def env_list(name: str, default: str = "") -> list[str]:
    """Read a comma-separated variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def required_secret(name: str, development_value: str) -> str:
    """Return the secret ``name``; only a debug run may fall back to a development value."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return development_value
    raise ImproperlyConfigured(
        f"Set the {name} environment variable: it is required when DJANGO_DEBUG is off."
    )


# Debug is the local default and never the default on Lambda.
DEBUG = env_bool("DJANGO_DEBUG", default=not ON_LAMBDA)

SECRET_KEY = required_secret(
    "DJANGO_SECRET_KEY", "django-insecure-development-key-do-not-use-in-production"
)

# A separate key for access tokens, so that rotating it logs nobody out of the admin.
JWT_SIGNING_KEY = required_secret("JWT_SIGNING_KEY", SECRET_KEY)
# RFC 7518 section 3.2: an HS256 key must have at least 256 bits.
if len(JWT_SIGNING_KEY.encode()) < 32:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must be at least 32 bytes long.")


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
    "django.contrib.admin",
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
    "app.serverless.LambdaClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # A warm Lambda keeps its connection between invocations; checked before reuse.
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take the write lock when a transaction starts, so concurrent writers wait instead of
    # failing with "database is locked" halfway through.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"

# Shared by every process (and every Lambda instance): login throttling lives here.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
    }
}

AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "app.serverless.StaticStorage"},
}
if DEBUG:
    # No collectstatic needed in development: WhiteNoise serves the apps' files directly.
    STORAGES["staticfiles"] = {"BACKEND": "app.serverless.DevelopmentStaticStorage"}
    WHITENOISE_USE_FINDERS = True
    WHITENOISE_AUTOREFRESH = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A JSON API has no business with large bodies; the API answers 413 past this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["app.accounts.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "app.accounts.exception_handler.api_exception_handler",
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
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "app.accounts.schema.add_session_links",
        "app.accounts.schema.add_script_prefix_server",
    ],
}

# Live settings, edited by staff on the admin's Constance page; read at call time.
CONSTANCE_BACKEND = "constance.backends.database.DatabaseBackend"
CONSTANCE_ADDITIONAL_FIELDS = {
    "lifetime_seconds": [
        "django.forms.IntegerField",
        {"min_value": 1, "max_value": 24 * 60 * 60},
    ],
    "lifetime_duration": [
        "django.forms.DurationField",
        {"validators": [MinValueValidator(timedelta(minutes=1))]},
    ],
}
CONSTANCE_CONFIG = {
    "ACCESS_TOKEN_LIFETIME": (
        30,
        "Lifetime of a new access token (JWT), in seconds. Applies to tokens issued from now on.",
        "lifetime_seconds",
    ),
    "REFRESH_TOKEN_LIFETIME": (
        timedelta(days=30),
        "Lifetime of a new refresh token, as 'DD HH:MM:SS' (30 00:00:00 is 30 days). "
        "Applies to tokens issued from now on.",
        "lifetime_duration",
    ),
}

# Failed logins per window, counted in the shared cache; a success does not reset them.
LOGIN_THROTTLE = {
    "window_seconds": int(os.environ.get("LOGIN_THROTTLE_WINDOW", "300")),
    "per_email": int(os.environ.get("LOGIN_THROTTLE_PER_EMAIL", "5")),
    "per_address": int(os.environ.get("LOGIN_THROTTLE_PER_ADDRESS", "20")),
}

# Revoked and used refresh tokens are kept this long for reuse detection, then purged.
REFRESH_TOKEN_RETENTION = timedelta(days=int(os.environ.get("REFRESH_TOKEN_RETENTION_DAYS", "7")))

# Clock skew tolerated when judging an access token's iat and exp (RFC 7519 section 4.1.4).
JWT_LEEWAY = timedelta(seconds=int(os.environ.get("JWT_LEEWAY_SECONDS", "5")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
