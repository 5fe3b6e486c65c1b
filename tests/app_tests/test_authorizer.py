"""``scripts/authorizer.py``, the deploy rehearsal's sibling HTTP API behind a JWT authorizer
that trusts the stage's tokens (``docs/jwt-authorizer.md``); against moto in-process (the
rehearsal, ``scripts/rehearse``, runs it against moto_server)."""

import contextlib
import io
import json
import os
import zipfile
from unittest import mock

from django.test import SimpleTestCase

from devtools.lambda_harness import aws_client, aws_environment, put_stage_secrets

STAGE_URL = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/dev"
NAME = "auth-api-dev"
SIBLING = "auth-api-dev-sibling"


class SiblingAuthorizerTests(SimpleTestCase):
    def setUp(self):
        from moto import mock_aws

        from scripts import authorizer

        self.authorizer = authorizer
        self.enterContext(mock.patch.dict(os.environ, aws_environment()))
        self.enterContext(mock_aws())
        # The REST API's URL as Zappa reads it from its CloudFormation stack.
        self.api_url = self.enterContext(
            mock.patch("zappa.core.Zappa.get_api_url", return_value=STAGE_URL)
        )
        self.apis = aws_client("apigatewayv2")

    def deployed(self, **variables):
        """The stage's function with ``variables``, its SnapStart alias on version 1."""
        lambda_ = aws_client("lambda")
        role = aws_client("iam").create_role(
            RoleName="auth-api-dev-ZappaLambdaExecutionRole",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def lambda_handler(event, context): pass\n")
        lambda_.create_function(
            FunctionName=NAME,
            Runtime="python3.13",
            Role=role,
            Handler="handler.lambda_handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": variables},
            Publish=True,
        )
        lambda_.create_alias(FunctionName=NAME, Name="snapstart", FunctionVersion="1")

    def create(self, expected=0):
        """``python -m scripts.authorizer create dev``; what it printed, out and err. What it
        made is ``self.sibling`` (moto lacks GetAuthorizers, which would list it)."""
        make = self.authorizer.create_sibling

        def recorded(*args, **kwargs):
            self.sibling = make(*args, **kwargs)
            return self.sibling

        self.enterContext(mock.patch.object(self.authorizer, "create_sibling", recorded))
        with (
            contextlib.redirect_stdout(io.StringIO()) as out,
            contextlib.redirect_stderr(io.StringIO()) as err,
        ):
            self.assertEqual(self.authorizer.main(["create", "dev"]), expected)
        return out.getvalue(), err.getvalue()

    def sibling_apis(self):
        return [api for api in self.apis.get_apis()["Items"] if api["Name"] == SIBLING]

    def the_authorizer(self):
        (api,) = self.sibling_apis()
        return self.apis.get_authorizer(ApiId=api["ApiId"], AuthorizerId=self.sibling.authorizer_id)

    def the_route(self):
        (api,) = self.sibling_apis()
        (route,) = self.apis.get_routes(ApiId=api["ApiId"])["Items"]
        return route

    def made(self, issuer=STAGE_URL, audience="auth-api"):
        """A sibling made directly, as ``create`` makes it."""
        return self.authorizer.create_sibling(
            self.apis,
            name=SIBLING,
            issuer=issuer,
            audience=audience,
            function_arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{SIBLING}",
        )

    def problems(self, sibling, issuer=STAGE_URL, audience="auth-api"):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.authorizer.configuration_problems(
                self.apis, sibling, issuer=issuer, audience=audience
            )

    def test_the_authorizer_is_a_jwt_one_reading_the_authorization_header(self):
        self.create()
        authorizer = self.the_authorizer()
        self.assertEqual(authorizer["AuthorizerType"], "JWT")
        self.assertEqual(authorizer["IdentitySource"], ["$request.header.Authorization"])

    def test_without_jwt_issuer_the_authorizer_trusts_the_stages_url_for_the_default_audience(
        self,
    ):
        self.create()
        self.assertEqual(
            self.the_authorizer()["JwtConfiguration"],
            {"Issuer": STAGE_URL, "Audience": ["auth-api"]},
        )

    def test_jwt_issuer_and_audience_of_the_served_version_are_what_the_authorizer_trusts(self):
        self.deployed(JWT_ISSUER="https://auth.example.com", JWT_AUDIENCE="platform")
        self.create()
        self.assertEqual(
            self.the_authorizer()["JwtConfiguration"],
            {"Issuer": "https://auth.example.com", "Audience": ["platform"]},
        )

    def test_the_stages_secrets_win_over_the_served_versions_environment(self):
        self.deployed(JWT_ISSUER="https://old.example.com", JWT_AUDIENCE="old")
        put_stage_secrets("dev", {"JWT_ISSUER": "https://auth.example.com"})
        self.create()
        self.assertEqual(
            self.the_authorizer()["JwtConfiguration"],
            {"Issuer": "https://auth.example.com", "Audience": ["old"]},
        )

    def test_the_route_reaches_the_sibling_function_only_through_the_jwt_authorizer(self):
        self.create()
        route = self.the_route()
        (api,) = self.sibling_apis()
        (integration,) = self.apis.get_integrations(ApiId=api["ApiId"])["Items"]
        self.assertEqual(
            (route["RouteKey"], route["AuthorizationType"], route["AuthorizerId"]),
            ("GET /whoami", "JWT", self.sibling.authorizer_id),
        )
        self.assertEqual(route["Target"], f"integrations/{integration['IntegrationId']}")
        self.assertEqual(
            (integration["IntegrationType"], integration["PayloadFormatVersion"]),
            ("AWS_PROXY", "2.0"),
        )
        self.assertEqual(
            integration["IntegrationUri"],
            f"arn:aws:lambda:eu-west-1:123456789012:function:{SIBLING}",
        )

    def test_what_it_read_back_is_printed(self):
        said, _ = self.create()
        self.assertIn(f"issuer {STAGE_URL}, audience ['auth-api']", said)
        self.assertIn("route GET /whoami: authorization JWT", said)

    def test_a_second_run_replaces_the_sibling_instead_of_adding_one(self):
        self.create()
        first = self.sibling_apis()[0]["ApiId"]
        self.create()
        self.assertNotIn(first, [api["ApiId"] for api in self.sibling_apis()])
        self.assertEqual(len(self.sibling_apis()), 1)

    def test_a_sibling_as_it_was_made_has_no_problem(self):
        self.assertEqual(self.problems(self.made()), [])

    def test_an_authorizer_trusting_another_issuer_is_a_problem(self):
        sibling = self.made(issuer="https://elsewhere.example.com")
        self.assertEqual(
            self.problems(sibling),
            [f"the authorizer's issuer is 'https://elsewhere.example.com', not {STAGE_URL!r}"],
        )

    def test_an_authorizer_for_another_audience_is_a_problem(self):
        sibling = self.made(audience="someone-else")
        self.assertEqual(
            self.problems(sibling),
            ["the authorizer's audience is ['someone-else'], not ['auth-api']"],
        )

    def test_an_authorizer_reading_another_header_is_a_problem(self):
        sibling = self.made()
        self.apis.update_authorizer(
            ApiId=sibling.api_id,
            AuthorizerId=sibling.authorizer_id,
            IdentitySource=["$request.header.X-Token"],
        )
        self.assertEqual(
            self.problems(sibling),
            [
                "the authorizer's identity source is ['$request.header.X-Token'], "
                "not ['$request.header.Authorization']"
            ],
        )

    def test_a_route_left_open_is_a_problem(self):
        sibling = self.made()
        self.apis.update_route(
            ApiId=sibling.api_id, RouteId=sibling.route_id, AuthorizationType="NONE"
        )
        self.assertEqual(
            self.problems(sibling),
            ["the route GET /whoami's authorization type is 'NONE', not 'JWT'"],
        )

    def test_a_route_bound_to_another_authorizer_is_a_problem(self):
        sibling = self.made()
        other = self.apis.create_authorizer(
            ApiId=sibling.api_id,
            Name="other",
            AuthorizerType="JWT",
            IdentitySource=["$request.header.Authorization"],
            JwtConfiguration={"Issuer": STAGE_URL, "Audience": ["auth-api"]},
        )["AuthorizerId"]
        self.apis.update_route(ApiId=sibling.api_id, RouteId=sibling.route_id, AuthorizerId=other)
        self.assertEqual(
            self.problems(sibling),
            [f"the route GET /whoami's authorizer is {other!r}, not {sibling.authorizer_id!r}"],
        )

    def test_a_problem_read_back_fails_the_run_with_its_message(self):
        self.enterContext(
            mock.patch.object(
                self.authorizer, "configuration_problems", return_value=["the issuer is wrong"]
            )
        )
        _, said = self.create(expected=1)
        self.assertEqual(said, "PROBLEM: the issuer is wrong\n")

    def test_no_issuer_at_all_fails_and_makes_nothing(self):
        self.api_url.return_value = None
        _, said = self.create(expected=1)
        self.assertIn("PROBLEM: no issuer for the sibling's authorizer", said)
        self.assertEqual(self.sibling_apis(), [])

    def test_an_issuer_that_is_not_https_fails_and_makes_nothing(self):
        self.deployed(JWT_ISSUER="http://auth.example.com")
        _, said = self.create(expected=1)
        self.assertIn("'http://auth.example.com' is not an https URL", said)
        self.assertEqual(self.sibling_apis(), [])

    def test_delete_removes_the_sibling_and_leaves_other_apis(self):
        self.create()
        other = self.apis.create_api(Name="another-service", ProtocolType="HTTP")["ApiId"]
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(self.authorizer.main(["delete", "dev"]), 0)
        self.assertEqual(self.sibling_apis(), [])
        self.assertEqual([api["ApiId"] for api in self.apis.get_apis()["Items"]], [other])

    def test_delete_with_no_sibling_succeeds(self):
        with contextlib.redirect_stdout(io.StringIO()) as said:
            self.assertEqual(self.authorizer.main(["delete", "dev"]), 0)
        self.assertIn(f"sibling HTTP API {SIBLING}: 0 deleted", said.getvalue())
