"""``app/settings.py``: configuration by environment, and refusing to start without secrets."""

import ast
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import pytest

from devtools import ROOT

STRONG = "s" * 40
KEYS = {"DJANGO_SECRET_KEY": STRONG, "JWT_SIGNING_KEY": "j" * 40}


def load_settings(code=None, **env):
    """Import app.settings in a fresh interpreter with exactly ``env``; return the process."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "JWT_", "DATABASE_URL", "AWS_LAMBDA"))
    }
    code = code or (
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


@pytest.mark.slow
class SettingsTests(unittest.TestCase):
    def test_default_is_debug_off_and_refuses_to_start_without_keys(self):
        result = load_settings()
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the DJANGO_SECRET_KEY environment variable", result.stderr)

    def test_debug_without_keys_makes_random_ones_kept_in_an_ignored_local_file(self):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "secrets.json"
            code = (
                "import app.settings as s; from pathlib import Path; "
                f"print(s.development_secret('A', Path({str(path)!r})) == "
                f"s.development_secret('A', Path({str(path)!r})), len(s.development_secret('B', "
                f"Path({str(path)!r}))))"
            )
            result = load_settings(code=code, DJANGO_DEBUG="true")
            self.assertEqual(result.stdout.split(), ["True", "64"], result.stderr)
            self.assertEqual(set(json.loads(path.read_text())), {"A", "B"})
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", ".dev-secrets.json"], cwd=ROOT, check=False
        )
        self.assertEqual(ignored.returncode, 0)

    def test_debug_on_uses_sqlite_with_argon2_first(self):
        result = load_settings(DJANGO_DEBUG="true")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.split(),
            [
                "True",
                "django.contrib.auth.hashers.Argon2PasswordHasher",
                "django.db.backends.sqlite3",
            ],
        )

    def test_no_signing_key_is_committed_in_the_settings(self):
        source = (ROOT / "app" / "settings.py").read_text()
        self.assertNotRegex(source, r"(SECRET_KEY|SIGNING_KEY)\s*=\s*['\"]")
        self.assertNotIn("django-insecure", source)

    def test_debug_off_without_a_secret_key_stops_naming_the_variable(self):
        result = load_settings(DJANGO_DEBUG="false", JWT_SIGNING_KEY=STRONG)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the DJANGO_SECRET_KEY environment variable", result.stderr)

    def test_debug_off_without_a_jwt_signing_key_stops_naming_the_variable(self):
        result = load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=STRONG)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the JWT_SIGNING_KEY environment variable", result.stderr)

    def test_keys_shorter_than_32_bytes_stop_start_up_and_32_bytes_start(self):
        cases = {
            "secret key of 31": ({"DJANGO_SECRET_KEY": "s" * 31, "JWT_SIGNING_KEY": STRONG}, 1),
            "jwt key of 31": ({"DJANGO_SECRET_KEY": STRONG, "JWT_SIGNING_KEY": "j" * 31}, 1),
            "both of 32": ({"DJANGO_SECRET_KEY": "s" * 32, "JWT_SIGNING_KEY": "j" * 32}, 0),
        }
        for label, (keys, failed) in cases.items():
            with self.subTest(label):
                result = load_settings(DJANGO_DEBUG="false", **keys)
                self.assertEqual(result.returncode != 0, bool(failed), result.stderr)
                if failed:
                    self.assertIn("at least 32 bytes", result.stderr)

    def test_a_jwt_key_equal_to_the_secret_key_stops_start_up(self):
        result = load_settings(DJANGO_SECRET_KEY=STRONG, JWT_SIGNING_KEY=STRONG)
        self.assertIn("No JWT signing key may equal DJANGO_SECRET_KEY", result.stderr)

    def test_previous_jwt_keys_must_be_long_and_differ_from_the_secret_key(self):
        cases = {
            "short previous key": ("p" * 31, "at least 32 bytes"),
            "previous key equal to the secret key": (STRONG, "may equal DJANGO_SECRET_KEY"),
        }
        for label, (previous, message) in cases.items():
            with self.subTest(label):
                result = load_settings(JWT_PREVIOUS_SIGNING_KEYS=previous, **KEYS)
                self.assertIn(message, result.stderr)
        result = load_settings(JWT_PREVIOUS_SIGNING_KEYS="p" * 40 + "," + "q" * 40, **KEYS)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_on_lambda_debug_is_off_by_default(self):
        result = load_settings(AWS_LAMBDA_FUNCTION_NAME="fn", **KEYS)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split()[0], "False")

    def test_ses_is_the_functions_region_at_boto3s_own_endpoint_and_asks_for_no_quota(self):
        code = (
            "import app.settings as s; print(s.AWS_SES_REGION_NAME, "
            "s.AWS_SES_REGION_ENDPOINT_URL, s.AWS_SES_AUTO_THROTTLE)"
        )
        env = {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_REGION": "eu-central-1", **KEYS}
        result = load_settings(code=code, **env)
        self.assertEqual(result.stdout.split(), ["eu-central-1", "None", "None"], result.stderr)

    def test_database_url_selects_postgresql(self):
        result = load_settings(DATABASE_URL="postgres://u@127.0.0.1:5432/db", **KEYS)
        self.assertEqual(result.stdout.split()[2], "django.db.backends.postgresql")

    def test_an_unknown_debug_spelling_stops_start_up(self):
        result = load_settings(DJANGO_DEBUG="maybe")
        self.assertIn("DJANGO_DEBUG must be true or false", result.stderr)

    def test_throttle_defaults_are_five_and_twenty_per_five_minutes_and_twenty_per_hour(self):
        code = (
            "import json, app.settings as s; "
            "print(json.dumps([s.LOGIN_THROTTLE, s.REGISTER_THROTTLE, s.EMAIL_CHANGE_THROTTLE,"
            " s.SESSIONS_PER_USER]))"
        )
        result = load_settings(code=code, **KEYS)
        self.assertEqual(
            json.loads(result.stdout),
            [
                {
                    "window_seconds": 300,
                    "per_pair": 5,
                    "per_address": 20,
                    "ceiling_window_seconds": 86400,
                    "ceiling": 100,
                    "successes": 30,
                },
                {"window_seconds": 3600, "per_address": 20},
                {"window_seconds": 3600, "per_user": 20, "per_address": 20},
                100,
            ],
        )

    def test_a_number_variable_that_is_not_one_stops_start_up_naming_it(self):
        code = "import app.settings"
        cases = {
            "LOGIN_THROTTLE_PER_PAIR": ("five", "LOGIN_THROTTLE_PER_PAIR must be a whole number"),
            "SESSIONS_PER_USER": ("0", "SESSIONS_PER_USER must be at least 1"),
            "LOGIN_THROTTLE_PER_EMAIL": (
                "5",
                "LOGIN_THROTTLE_PER_EMAIL is now LOGIN_THROTTLE_PER_PAIR",
            ),
        }
        for name, (value, message) in cases.items():
            with self.subTest(name):
                result = load_settings(code=code, **{name: value}, **KEYS)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)

    def test_the_mail_backend_is_a_file_in_debug_ses_on_lambda_smtp_else_or_as_named(self):
        code = "import app.settings as s; print(s.EMAIL_BACKEND)"
        cases = [
            ({"DJANGO_DEBUG": "true"}, "django.core.mail.backends.filebased.EmailBackend"),
            ({"AWS_LAMBDA_FUNCTION_NAME": "fn", **KEYS}, "django_ses.SESBackend"),
            (KEYS, "django.core.mail.backends.smtp.EmailBackend"),
            (
                {"DJANGO_EMAIL_BACKEND": "console", **KEYS},
                "django.core.mail.backends.console.EmailBackend",
            ),
            ({"DJANGO_EMAIL_BACKEND": "my.Backend", **KEYS}, "my.Backend"),
        ]
        for env, backend in cases:
            with self.subTest(env):
                result = load_settings(code=code, **env)
                self.assertEqual(result.stdout.strip(), backend, result.stderr)

    def test_mail_settings_that_cannot_work_stop_start_up_naming_the_variable(self):
        cases = {
            "DJANGO_EMAIL_BACKEND": ("carrier-pigeon", "DJANGO_EMAIL_BACKEND must be one of"),
            "PUBLIC_BASE_URL": ("id.example.com", "PUBLIC_BASE_URL must be an http(s) URL"),
            "EMAIL_CHANGE_POLICY": ("later", "EMAIL_CHANGE_POLICY must be immediate or confirm"),
            "REQUIRE_VERIFIED_EMAIL": ("perhaps", "REQUIRE_VERIFIED_EMAIL must be true or false"),
        }
        for name, (value, message) in cases.items():
            with self.subTest(name):
                result = load_settings(code="import app.settings", **{name: value}, **KEYS)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)

    def test_mail_goes_out_after_the_response_on_lambda_only(self):
        code = "import app.settings as s; print(s.TASKS_IN_BACKGROUND)"
        for env, expected in (({}, "False"), ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, "True")):
            with self.subTest(env):
                self.assertEqual(load_settings(code=code, **env, **KEYS).stdout.strip(), expected)

    def test_the_password_policy_is_strict_by_default_and_basic_keeps_the_length_only(self):
        code = (
            "import app.settings as s; "
            "print([v['NAME'].rsplit('.', 1)[1] for v in s.AUTH_PASSWORD_VALIDATORS])"
        )
        strict = load_settings(code=code, **KEYS).stdout.strip()
        basic = load_settings(code=code, PASSWORD_POLICY="basic", **KEYS).stdout.strip()
        self.assertEqual(len(ast.literal_eval(strict)), 4)
        self.assertEqual(basic, "['MinimumLengthValidator']")
        wrong = load_settings(code=code, PASSWORD_POLICY="lax", **KEYS)
        self.assertIn("PASSWORD_POLICY must be strict or basic", wrong.stderr)

    def test_production_trusts_api_gateways_forwarded_proto_and_hsts_extras_are_opt_in(self):
        code = (
            "import app.settings as s; print(s.SECURE_PROXY_SSL_HEADER, "
            "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
        )
        result = load_settings(code=code, **KEYS)
        self.assertEqual(
            result.stdout.strip(), "('HTTP_X_FORWARDED_PROTO', 'https') False False", result.stderr
        )
        opted_in = load_settings(
            code=code, DJANGO_HSTS_INCLUDE_SUBDOMAINS="true", DJANGO_HSTS_PRELOAD="true", **KEYS
        )
        self.assertTrue(opted_in.stdout.strip().endswith("True True"), opted_in.stderr)

    def test_production_settings_pass_the_deploy_checklist(self):
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "JWT_", "DATABASE_URL"))
        }
        env.update(
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="k" + "".join(chr(33 + (i * 7) % 90) for i in range(60)),
            JWT_SIGNING_KEY="j" * 40,
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


class ManageCommandErrorTests(unittest.TestCase):
    """``manage.py``: a configuration mistake is one line and exit status 1."""

    def manage(self, *command, **env):
        clean = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "JWT_", "DATABASE_URL"))
        }
        return subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_missing_keys_bad_urls_and_no_database_end_in_one_line(self):
        keys = {"DJANGO_SECRET_KEY": "s" * 40, "JWT_SIGNING_KEY": "j" * 40}
        cases = {
            "no keys": (("check",), {}, "configuration error: Set the DJANGO_SECRET_KEY"),
            "a bad DATABASE_URL": (
                ("check",),
                {**keys, "DATABASE_URL": "foo://x"},
                "configuration error: DATABASE_URL is not a database URL",
            ),
            "no database": (
                ("migrate",),
                {**keys, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/x"},
                "database error: ",
            ),
        }
        for label, (command, env, message) in cases.items():
            with self.subTest(label):
                result = self.manage(*command, **env)
                self.assertEqual(result.returncode, 1, result.stderr)
                lines = result.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, result.stderr)
                self.assertIn(message, lines[0])

    def test_traceback_shows_where(self):
        result = self.manage("check", "--traceback")
        self.assertIn("Traceback", result.stderr)
