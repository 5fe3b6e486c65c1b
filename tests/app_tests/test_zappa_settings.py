"""``zappa_settings.json``: the production choices, and what Zappa generates from them."""

import json
import os
import re
import subprocess
import sys
import unittest
from pathlib import Path
from unittest import mock

import zappa

from devtools import ROOT
from devtools.lambda_harness import aws_environment
from devtools.zappa import zappa_settings_source

SETTINGS = json.loads((ROOT / "zappa_settings.json").read_text())


def stage(name):
    merged = dict(SETTINGS[SETTINGS[name]["extends"]])
    merged.update(SETTINGS[name])
    return merged


class ZappaSettingsTests(unittest.TestCase):
    def test_both_stages_run_django_on_python_3_13_quietly_and_without_keep_warm(self):
        for name in ("dev", "production"):
            with self.subTest(stage=name):
                config = stage(name)
                self.assertEqual(config["django_settings"], "app.settings")
                self.assertEqual(config["runtime"], "python3.13")
                self.assertIs(config["debug"], False)
                self.assertEqual(config["log_level"], "WARNING")
                self.assertIs(config["keep_warm"], False)
                self.assertIs(config["function_url_enabled"], True)
                self.assertLessEqual(config["timeout_seconds"], 29)
                self.assertTrue(config["remote_env"].startswith("s3://"))

    def test_the_refresh_token_purge_runs_once_a_day(self):
        self.assertIn(
            {"function": "app.aws.schedule.purge_expired", "expression": "rate(1 day)"},
            stage("production")["events"],
        )

    def test_no_secret_is_written_in_the_file(self):
        text = (ROOT / "zappa_settings.json").read_text()
        for name in (
            "DJANGO_SECRET_KEY",
            "JWT_PRIVATE_KEY",
            "PRIVATE KEY-----",
            "DATABASE_URL",
            "postgres://",
        ):
            self.assertNotIn(name, text)
        for config in SETTINGS.values():
            self.assertNotIn("environment_variables", config)
            self.assertNotIn("aws_environment_variables", config)

    def test_what_lambda_does_not_need_is_left_out_of_the_package(self):
        excluded = set(stage("dev")["exclude"])
        self.assertTrue({"tests", "scripts", "boto3", "botocore", "*.sqlite3"} <= excluded)

    def test_generated_handler_settings_are_quiet_and_read_secrets_from_s3(self):
        with mock.patch.dict(os.environ, aws_environment()):
            source = zappa_settings_source("production")
        self.assertIn("DEBUG=False", source)
        self.assertIn("LOG_LEVEL='WARNING'", source)
        self.assertIn("DJANGO_SETTINGS='app.settings'", source)
        self.assertIn("REMOTE_ENV='s3://auth-api-config-production/secrets.json'", source)
        self.assertNotIn("WEBSOCKET_HANDLER_MODULE", source)
        self.assertIsNone(re.search(r"SECRET_KEY|SIGNING_KEY", source))

    def check_policy(self, stage_name, *policy_file):
        return subprocess.run(
            [sys.executable, "-m", "scripts.zappa_stage", "check-policy", stage_name, *policy_file],
            cwd=ROOT,
            env={**os.environ, **aws_environment()},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_each_stage_role_may_only_log_read_its_secrets_mail_and_invoke_itself(self):
        for name in ("dev", "production"):
            with self.subTest(stage=name):
                result = self.check_policy(name)
                self.assertEqual((result.returncode, result.stdout), (0, ""), result.stderr)
                policy = json.loads((ROOT / stage(name)["attach_policy"]).read_text())
                grants = {
                    (action, each["Resource"])
                    for each in policy["Statement"]
                    for action in each["Action"]
                }
                self.assertEqual(
                    grants,
                    {
                        (
                            action,
                            f"arn:aws:logs:eu-west-1:*:log-group:/aws/lambda/auth-api-{name}:*",
                        )
                        for action in (
                            "logs:CreateLogGroup",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                        )
                    }
                    | {("s3:GetObject", f"arn:aws:s3:::auth-api-config-{name}/secrets.json")}
                    | {
                        (action, f"arn:aws:ses:eu-west-1:*:identity/{stage(name)['ses_identity']}")
                        for action in ("ses:SendEmail", "ses:SendRawEmail")
                    }
                    | {
                        (
                            "lambda:InvokeFunction",
                            f"arn:aws:lambda:eu-west-1:*:function:auth-api-{name}",
                        )
                    },
                )

    def test_each_stage_mails_from_an_ses_identity_of_its_own_named_without_wildcards(self):
        identities = {name: stage(name)["ses_identity"] for name in ("dev", "production")}
        self.assertEqual(len(set(identities.values())), 2, identities)
        for name, identity in identities.items():
            with self.subTest(stage=name):
                self.assertNotIn("*", identity)
                self.assertNotIn("?", identity)

    def test_the_policy_check_names_each_grant_past_the_stages_own_and_each_one_missing(self):
        from scripts.zappa_stage import policy_problems

        own = {
            "region": "eu-west-1",
            "lambda_name": "auth-api-dev",
            "remote_env": "s3://auth-api-config-dev/secrets.json",
            "ses_identity": "dev.auth-api.example.com",
        }
        policy = json.loads((ROOT / "scripts/policies/dev.json").read_text())

        def with_statement(**statement):
            return {"Statement": [*policy["Statement"], {"Effect": "Allow", **statement}]}

        def without(sid):
            return {"Statement": [each for each in policy["Statement"] if each["Sid"] != sid]}

        ses = ["ses:SendEmail", "ses:SendRawEmail"]
        cases = {
            "mail from every identity": (
                with_statement(Action=ses, Resource="arn:aws:ses:eu-west-1:*:identity/*"),
                "resource outside the function's own: arn:aws:ses:eu-west-1:*:identity/*",
            ),
            "mail from the other stage's identity": (
                with_statement(
                    Action=ses, Resource="arn:aws:ses:eu-west-1:*:identity/auth-api.example.com"
                ),
                "resource outside the function's own: "
                "arn:aws:ses:eu-west-1:*:identity/auth-api.example.com",
            ),
            "SES's quota, which no identity narrows": (
                with_statement(Action=["ses:GetSendQuota"], Resource="*"),
                "resource outside the function's own: *",
            ),
            "invoking another function": (
                with_statement(
                    Action=["lambda:InvokeFunction"],
                    Resource="arn:aws:lambda:eu-west-1:*:function:auth-api-production",
                ),
                "resource outside the function's own: "
                "arn:aws:lambda:eu-west-1:*:function:auth-api-production",
            ),
            "invoking any version or alias": (
                with_statement(
                    Action=["lambda:InvokeFunction"],
                    Resource="arn:aws:lambda:eu-west-1:*:function:auth-api-dev:*",
                ),
                "resource outside the function's own: "
                "arn:aws:lambda:eu-west-1:*:function:auth-api-dev:*",
            ),
            "changing its own code": (
                with_statement(
                    Action=["lambda:UpdateFunctionCode"],
                    Resource="arn:aws:lambda:eu-west-1:*:function:auth-api-dev",
                ),
                "lambda:UpdateFunctionCode on arn:aws:lambda:eu-west-1:*:function:auth-api-dev: "
                "not needed for invoking itself",
            ),
            "everything but one action": (
                with_statement(NotAction=["iam:*"], Resource="*"),
                "NotAction grants everything it does not name",
            ),
            "no mail": (
                without("OwnMailIdentity"),
                "missing ses:SendRawEmail for the stage's SES identity",
            ),
            "no tasks": (
                without("OwnAsynchronousTasks"),
                "missing lambda:InvokeFunction for invoking itself",
            ),
        }
        self.assertEqual(policy_problems(policy, **own), [])
        for label, (changed, problem) in cases.items():
            with self.subTest(label):
                self.assertIn(problem, policy_problems(changed, **own))

    def test_the_policy_check_refuses_zappas_default_policy(self):
        default = Path(zappa.__file__).parent / "policies" / "attach_policy.json"
        result = self.check_policy("dev", str(default))
        self.assertEqual(result.returncode, 1)
        self.assertIn("PROBLEM: wildcard action s3:*", result.stdout)

    def test_the_function_url_grants_no_cross_origin_access_and_concurrency_is_capped(self):
        for name in ("dev", "production"):
            with self.subTest(stage=name):
                config = stage(name)
                self.assertEqual(
                    config["function_url_config"], {"authorizer": "NONE", "cors": False}
                )
                self.assertGreater(config["lambda_concurrency"], 0)

    def test_both_stages_snapshot_published_versions_and_enter_through_our_entry_point(self):
        for name in ("dev", "production"):
            with self.subTest(stage=name):
                config = stage(name)
                self.assertEqual(config["snap_start"], "PublishedVersions")
                self.assertNotIn("provisioned_concurrency", config)
                # Its import is the init phase; Zappa's handler only for non-HTTP events.
                self.assertEqual(config["lambda_handler"], "app.aws.lambda_function.lambda_handler")
