"""``scripts/zappa_stage.py public-base-url``, the deploy's step that points the links of
messages at the stage's URL, and what of it ``zappa update`` must keep, and ``health``, the
deploy's last step; against moto in-process
(the deploy rehearsal, ``scripts/rehearse``, runs the step against moto_server, but cannot run
``zappa update``: moto lacks ListFunctionUrlConfigs)."""

import contextlib
import http.server
import io
import json
import os
import threading
import zipfile
from unittest import mock

from django.test import SimpleTestCase

from devtools.lambda_harness import aws_client, aws_environment

STAGE_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev"
NAME = "auth-api-dev"
ALIAS = "snapstart"


class PublicBaseUrlTests(SimpleTestCase):
    def setUp(self):
        from moto import mock_aws

        from scripts import zappa_stage

        self.zappa_stage = zappa_stage
        self.enterContext(mock.patch.dict(os.environ, aws_environment()))
        self.enterContext(mock_aws())
        # The REST API's URL as Zappa reads it from its CloudFormation stack.
        self.enterContext(mock.patch("zappa.core.Zappa.get_api_url", return_value=STAGE_URL))
        self.lambda_ = aws_client("lambda")
        self.role = aws_client("iam").create_role(
            RoleName="auth-api-dev-ZappaLambdaExecutionRole",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]

    def deployed(self, **variables):
        """The function as a first deploy leaves it: version 1 behind the SnapStart alias."""
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def lambda_handler(event, context): pass\n")
        function = self.lambda_.create_function(
            FunctionName=NAME,
            Runtime="python3.13",
            Role=self.role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": variables},
            SnapStart={"ApplyOn": "PublishedVersions"},
            Publish=True,
        )
        self.lambda_.create_alias(FunctionName=NAME, Name=ALIAS, FunctionVersion="1")
        return function

    def served(self):
        """The SnapStart alias's version and its PUBLIC_BASE_URL."""
        configuration = self.lambda_.get_function_configuration(FunctionName=NAME, Qualifier=ALIAS)
        variables = (configuration.get("Environment") or {}).get("Variables") or {}
        return configuration["Version"], variables.get("PUBLIC_BASE_URL")

    def public_base_url(self):
        with contextlib.redirect_stdout(io.StringIO()) as said:
            self.assertEqual(self.zappa_stage.public_base_url("dev"), 0)
        return said.getvalue()

    def test_the_first_deploy_sets_the_stages_url_in_a_version_the_snapstart_alias_serves(self):
        self.deployed()
        self.public_base_url()
        self.assertEqual(self.served(), ("2", STAGE_URL))

    def test_the_first_deploy_makes_the_stages_url_the_issuer_of_its_tokens(self):
        self.deployed()
        self.public_base_url()
        configuration = self.lambda_.get_function_configuration(FunctionName=NAME, Qualifier=ALIAS)
        self.assertEqual(configuration["Environment"]["Variables"]["JWT_ISSUER"], STAGE_URL)

    def test_a_public_base_url_already_set_stays_and_nothing_is_published(self):
        self.deployed(PUBLIC_BASE_URL="https://auth.example.com")
        said = self.public_base_url()
        self.assertIn("PUBLIC_BASE_URL stays https://auth.example.com", said)
        self.assertEqual(self.served(), ("1", "https://auth.example.com"))

    def test_zappa_update_keeps_public_base_url_in_the_version_it_publishes(self):
        function = self.deployed()
        self.public_base_url()
        cli = self.zappa_stage.load("dev")
        cli.zappa.credentials_arn = self.role
        # The configuration step of `zappa update`, with zappa_settings.json's variables (none).
        with self.assertLogs("zappa.core", "INFO"):
            cli.zappa.update_lambda_configuration(
                function["FunctionArn"],
                NAME,
                "handler.lambda_handler",
                aws_environment_variables=cli.aws_environment_variables,
                snap_start=cli.snap_start,
            )
        self.assertEqual(self.served(), ("3", STAGE_URL))


class HealthTests(SimpleTestCase):
    """``zappa_stage health``: a deploy waits for the stage to answer its health check."""

    def setUp(self):
        from scripts import zappa_stage

        self.zappa_stage = zappa_stage

    def serve(self, statuses: list[int]) -> str:
        answers = iter(statuses)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status = next(answers, statuses[-1])
                body = json.dumps(
                    {"status": "ok"} if status == 200 else {"code": "service_unavailable"}
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}/dev"

    def test_a_stage_that_answers_503_first_is_asked_again_until_it_is_healthy(self):
        url = self.serve([503, 503, 200])
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(self.zappa_stage.health("dev", url, attempts=5, pause=0), 0)
        self.assertIn("healthy", out.getvalue())

    def test_a_stage_that_never_gets_healthy_fails_the_deploy(self):
        url = self.serve([503])
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(self.zappa_stage.health("dev", url, attempts=3, pause=0), 1)
        self.assertIn("answered 503 3 times", err.getvalue())
