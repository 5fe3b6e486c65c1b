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

from app.accounts import keys
from devtools import ROOT, random_signing_key

STRONG = "s" * 40
PEM = random_signing_key()
ISSUER = "https://auth.example.com"
KEYS = {"DJANGO_SECRET_KEY": STRONG, "JWT_PRIVATE_KEY": PEM, "JWT_ISSUER": ISSUER}


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
        result = load_settings(DJANGO_DEBUG="false", JWT_PRIVATE_KEY=PEM, JWT_ISSUER=ISSUER)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the DJANGO_SECRET_KEY environment variable", result.stderr)

    def test_debug_off_without_a_jwt_private_key_stops_naming_the_variable(self):
        result = load_settings(DJANGO_DEBUG="false", DJANGO_SECRET_KEY=STRONG, JWT_ISSUER=ISSUER)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("Set the JWT_PRIVATE_KEY environment variable", result.stderr)

    def test_a_secret_key_shorter_than_32_bytes_stops_start_up_and_32_bytes_start(self):
        for length, failed in ((31, True), (32, False)):
            with self.subTest(length=length):
                result = load_settings(**{**KEYS, "DJANGO_SECRET_KEY": "s" * length})
                self.assertEqual(result.returncode != 0, failed, result.stderr)
                if failed:
                    self.assertIn("at least 32 bytes", result.stderr)

    def test_the_hs256_variables_stop_start_up_naming_what_replaced_them(self):
        for name in ("JWT_SIGNING_KEY", "JWT_PREVIOUS_SIGNING_KEYS"):
            with self.subTest(name):
                result = load_settings(**{name: "j" * 40}, **KEYS)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(f"{name} is gone", result.stderr)
                self.assertIn("JWT_PRIVATE_KEY", result.stderr)

    def test_a_weak_or_unusable_jwt_key_stops_start_up(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        def pem(key):
            return key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()

        cases = {
            "RSA of 1024 bits": (
                pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
                "at least 2048 bits",
            ),
            "EC on P-384": (pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
            "not a PEM": ("j" * 40, "Not a private key"),
            "a public key": (keys.public_pem(PEM), "Not a private key"),
        }
        for label, (value, message) in cases.items():
            with self.subTest(label):
                result = load_settings(**{**KEYS, "JWT_PRIVATE_KEY": value})
                self.assertNotEqual(result.returncode, 0)
                self.assertIn(message, result.stderr)

    def test_a_signing_key_of_another_algorithm_than_jwt_algorithm_stops_start_up(self):
        result = load_settings(JWT_ALGORITHM="ES256", **KEYS)
        self.assertIn("JWT_PRIVATE_KEY is a RS256 key, but JWT_ALGORITHM is ES256", result.stderr)
        ec_key = random_signing_key("ES256")
        result = load_settings(JWT_ALGORITHM="ES256", **{**KEYS, "JWT_PRIVATE_KEY": ec_key})
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_next_key_equal_to_the_signing_key_stops_start_up(self):
        result = load_settings(JWT_NEXT_PRIVATE_KEY=PEM, **KEYS)
        self.assertIn("JWT_NEXT_PRIVATE_KEY equals JWT_PRIVATE_KEY", result.stderr)

    def test_previous_public_keys_are_pems_one_after_another(self):
        code = "import app.settings as s; print(len(s.JWT_PREVIOUS_PUBLIC_KEYS))"
        two = keys.public_pem(keys.generate()) + keys.public_pem(keys.generate("ES256"))
        result = load_settings(code=code, JWT_PREVIOUS_PUBLIC_KEYS=two, **KEYS)
        self.assertEqual(result.stdout.strip(), "2", result.stderr)
        wrong = load_settings(code=code, JWT_PREVIOUS_PUBLIC_KEYS="p" * 40, **KEYS)
        self.assertIn("JWT_PREVIOUS_PUBLIC_KEYS must hold public keys in PEM", wrong.stderr)

    def test_with_debug_off_the_issuer_must_be_https_but_for_a_loopback_address(self):
        code = "import app.settings as s; print(s.JWT_ISSUER)"
        cases = {
            "https://auth.example.com/dev/": "https://auth.example.com/dev",
            "http://127.0.0.1:8001/dev": "http://127.0.0.1:8001/dev",
            "http://auth.example.com": None,
            "auth.example.com": None,
        }
        for issuer, expected in cases.items():
            with self.subTest(issuer):
                result = load_settings(code=code, **{**KEYS, "JWT_ISSUER": issuer})
                if expected:
                    self.assertEqual(result.stdout.strip(), expected, result.stderr)
                else:
                    self.assertIn("JWT_ISSUER must be an https URL", result.stderr)

    def test_the_issuer_defaults_to_the_public_base_url_and_debug_off_needs_one(self):
        code = "import app.settings as s; print(s.JWT_ISSUER, s.JWT_AUDIENCE)"
        without = {name: value for name, value in KEYS.items() if name != "JWT_ISSUER"}
        result = load_settings(code=code, PUBLIC_BASE_URL="https://id.example.com/", **without)
        self.assertEqual(result.stdout.strip(), "https://id.example.com auth-api", result.stderr)
        self.assertIn("Set JWT_ISSUER", load_settings(code=code, **without).stderr)

    def test_debug_without_keys_signs_with_a_kept_key_of_the_chosen_algorithm(self):
        code = (
            "import app.settings as s; from app.accounts import keys; "
            "print(keys.private_key(s.JWT_PRIVATE_KEY).public.algorithm, s.JWT_ISSUER)"
        )
        for algorithm in ("RS256", "ES256"):
            with self.subTest(algorithm):
                result = load_settings(code=code, DJANGO_DEBUG="true", JWT_ALGORITHM=algorithm)
                self.assertEqual(
                    result.stdout.split(), [algorithm, "http://127.0.0.1:8000"], result.stderr
                )

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

    def test_on_lambda_a_first_version_without_an_issuer_starts_and_issues_no_token(self):
        code = "import app.settings as s; print(repr(s.JWT_ISSUER))"
        keys = {name: value for name, value in KEYS.items() if name != "JWT_ISSUER"}
        lambda_start = load_settings(code=code, AWS_LAMBDA_FUNCTION_NAME="fn", **keys)
        self.assertEqual(lambda_start.stdout.strip(), "''", lambda_start.stderr)
        elsewhere = load_settings(code=code, **keys)
        self.assertIn("Set JWT_ISSUER (or PUBLIC_BASE_URL)", elsewhere.stderr)

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

    def test_logs_are_json_and_metrics_emf_on_lambda_text_and_off_elsewhere_or_as_named(self):
        code = (
            "import app.settings as s; "
            "print(s.LOG_FORMAT, s.METRICS, s.SERVICE_NAME, s.METRICS_NAMESPACE, "
            "s.LOGGING['formatters']['line']['()'])"
        )
        cases = {
            "elsewhere": ({}, "text off auth-api AuthApi app.logs.TextFormatter"),
            "on Lambda": (
                {"AWS_LAMBDA_FUNCTION_NAME": "fn"},
                "json emf auth-api AuthApi app.logs.JsonFormatter",
            ),
            "as named": (
                {
                    "DJANGO_LOG_FORMAT": "json",
                    "DJANGO_METRICS": "emf",
                    "POWERTOOLS_SERVICE_NAME": "id",
                    "POWERTOOLS_METRICS_NAMESPACE": "Id",
                },
                "json emf id Id app.logs.JsonFormatter",
            ),
        }
        for label, (env, expected) in cases.items():
            with self.subTest(label):
                result = load_settings(code=code, **env, **KEYS)
                self.assertEqual(result.stdout.strip(), expected, result.stderr)
        for name in ("DJANGO_LOG_FORMAT", "DJANGO_METRICS"):
            with self.subTest(name):
                result = load_settings(code="import app.settings", **{name: "xml"}, **KEYS)
                self.assertIn(f"{name} must be", result.stderr)

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
            JWT_PRIVATE_KEY=PEM,
            JWT_ISSUER=ISSUER,
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
        cases = {
            "no keys": (("check",), {}, "configuration error: Set the DJANGO_SECRET_KEY"),
            "a bad DATABASE_URL": (
                ("check",),
                {**KEYS, "DATABASE_URL": "foo://x"},
                "configuration error: DATABASE_URL is not a database URL",
            ),
            "no database": (
                ("migrate",),
                {**KEYS, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/x"},
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
