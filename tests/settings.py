"""The project's settings for the suite: debug-style local defaults, random keys for this
process (none is committed), and a fast password hasher so tests do not wait on Argon2."""

import os

from devtools import random_keys

os.environ.setdefault("DJANGO_DEBUG", "true")
for _name, _key in random_keys().items():
    os.environ.setdefault(_name, _key)

from app.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory, so that threads in the concurrency tests get the same
    # locking (IMMEDIATE transactions, busy timeout) as the development server.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")  # noqa: F405
    }
else:
    # A database of its own per run, so two runs against one server never drop each other's.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
    }
