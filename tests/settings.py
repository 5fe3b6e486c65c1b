"""The project's settings, with a fast password hasher so the suite does not wait on Argon2."""

from app.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory, so that threads in the concurrency tests get the same
    # locking (IMMEDIATE transactions, busy timeout) as the development server.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}  # noqa: F405
