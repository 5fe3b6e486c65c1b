"""``app/settings.py``: configuration by environment, and refusing to start without secrets."""

import os
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRONG = "s" * 40


def load_settings(**env):
    """Import app.settings in a fresh interpreter with exactly ``env``; return the process."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "JWT_", "DATABASE_URL", "AWS_LAMBDA"))
    }
    code = (
        "import app.settings as s; "
        "print(s.DEBUG, s.PASSWORD_HASHERS[0], s.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


class SettingsTests(unittest.TestCase):
    def test_local_default_is_debug_on_sqlite_with_argon2_first(self):
        result = load_settings()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.split(),
            [
                "True",
                "django.contrib.auth.hashers.Argon2PasswordHasher",
                "django.db.backends.sqlite3",
            ],
        )

    def test_debug_off_without_a_secret_key_stops_naming_the_variable(self):
        result = load_settings(DJANGO_DEBUG="false", JWT_SIGNING_KEY=STRONG)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the DJANGO_SECRET_KEY environment variable", result.stderr)

    def test_debug_off_without_a_jwt_signing_key_stops_naming_the_variable(self):
        result = load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=STRONG)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the JWT_SIGNING_KEY environment variable", result.stderr)

    def test_a_jwt_signing_key_under_32_bytes_stops_start_up(self):
        result = load_settings(JWT_SIGNING_KEY="short")
        self.assertIn("at least 32 bytes", result.stderr)

    def test_on_lambda_debug_is_off_by_default(self):
        result = load_settings(
            AWS_LAMBDA_FUNCTION_NAME="fn", DJANGO_SECRET_KEY=STRONG, JWT_SIGNING_KEY=STRONG
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[0], "False")

    def test_database_url_selects_postgresql(self):
        result = load_settings(DATABASE_URL="postgres://u@127.0.0.1:5432/db")
        self.assertEqual(result.stdout.split()[2], "django.db.backends.postgresql")

    def test_an_unknown_debug_spelling_stops_start_up(self):
        result = load_settings(DJANGO_DEBUG="maybe")
        self.assertIn("DJANGO_DEBUG must be true or false", result.stderr)

    def test_production_settings_pass_the_deploy_checklist(self):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "JWT_", "DATABASE_URL"))
        }
        env.update(
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="k" + "".join(chr(33 + (i * 7) % 90) for i in range(60)),
            JWT_SIGNING_KEY=STRONG,
            AWS_REGION="eu-west-1",
        )
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no issues", result.stdout)
