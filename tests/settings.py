"""The project's settings, with a fast password hasher so the suite does not wait on Argon2."""

from app.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
