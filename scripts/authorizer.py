"""A sibling service behind an HTTP API JWT authorizer that trusts the stage's tokens: the
deploy rehearsal's step for ``docs/jwt-authorizer.md``, made with the API calls of its recipe.

    python -m scripts.authorizer create STAGE   the sibling HTTP API, its JWT authorizer and a
                                                route it protects; read back and checked
    python -m scripts.authorizer delete STAGE   delete the sibling HTTP API (and all it holds)

The authorizer trusts the issuer the stage's tokens carry: ``JWT_ISSUER`` from the stage's
secrets (``remote_env``, which win at run time), else from the environment of the version the
SnapStart alias serves, else the stage's API Gateway URL (as ``zappa_stage public-base-url``
computes it); the audience is ``JWT_AUDIENCE`` found the same way, ``auth-api`` by default.
Zappa cannot make this authorizer (its HTTP API routes take only ``AWS_IAM`` or ``NONE``), so
this is boto3's ``apigatewayv2``, as ``aws apigatewayv2`` would do it. Run from the repository
root with a venv that has Zappa and boto3 (build/venv or .venv).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import botocore.exceptions

from scripts.zappa_stage import SNAPSTART_ALIAS, load

DEFAULT_AUDIENCE = "auth-api"
IDENTITY_SOURCE = "$request.header.Authorization"
ROUTE_KEY = "GET /whoami"  # the sibling's one route: what a caller's token says about them
AUTHORIZER_NAME = "auth-api-tokens"


@dataclass(frozen=True)
class Sibling:
    """What ``create_sibling`` made: the HTTP API and the ids of its parts."""

    api_id: str
    authorizer_id: str
    integration_id: str
    route_id: str


def sibling_name(lambda_name: str) -> str:
    """The sibling HTTP API's name (and its function's), beside the stage's function."""
    return f"{lambda_name}-sibling"


def stage_secrets(cli) -> dict[str, str]:
    """The stage's secrets (the JSON object at ``remote_env``), or nothing if there are none."""
    url = cli.stage_config.get("remote_env")
    if not url:
        return {}
    bucket, key = url.removeprefix("s3://").split("/", 1)
    s3 = cli.zappa.boto_session.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchBucket", "NoSuchKey"):
            return {}
        raise
    return json.loads(body)


def served_environment(cli) -> dict[str, str]:
    """The environment of the version the SnapStart alias serves (nothing if not deployed)."""
    try:
        configuration = cli.zappa.lambda_client.get_function_configuration(
            FunctionName=cli.lambda_name, Qualifier=SNAPSTART_ALIAS
        )
    except botocore.exceptions.ClientError:
        return {}
    return dict((configuration.get("Environment") or {}).get("Variables") or {})


def trusted(cli) -> tuple[str | None, str]:
    """The issuer and the audience the stage's tokens carry, as the function would read them:
    the secrets over the served version's environment, the stage's URL by default."""
    settings = {**served_environment(cli), **stage_secrets(cli)}
    issuer = settings.get("JWT_ISSUER") or cli.zappa.get_api_url(cli.lambda_name, cli.api_stage)
    return issuer, settings.get("JWT_AUDIENCE") or DEFAULT_AUDIENCE


def create_sibling(client, *, name: str, issuer: str, audience: str, function_arn: str) -> Sibling:
    """An HTTP API named ``name`` for the function at ``function_arn``: a JWT authorizer that
    trusts ``issuer`` for ``audience`` and reads the ``Authorization`` header, and a route to
    the function (payload 2.0) that it protects, on an auto-deployed ``$default`` stage."""
    api_id = client.create_api(Name=name, ProtocolType="HTTP")["ApiId"]
    authorizer_id = client.create_authorizer(
        ApiId=api_id,
        Name=AUTHORIZER_NAME,
        AuthorizerType="JWT",
        IdentitySource=[IDENTITY_SOURCE],
        JwtConfiguration={"Issuer": issuer, "Audience": [audience]},
    )["AuthorizerId"]
    integration_id = client.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function_arn,
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    route_id = client.create_route(
        ApiId=api_id,
        RouteKey=ROUTE_KEY,
        AuthorizationType="JWT",
        AuthorizerId=authorizer_id,
        Target=f"integrations/{integration_id}",
    )["RouteId"]
    client.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    return Sibling(api_id, authorizer_id, integration_id, route_id)


def configuration_problems(client, sibling: Sibling, *, issuer: str, audience: str) -> list[str]:
    """What of the sibling's authorizer and route, read back, is not what a caller's token
    needs: the JWT type, the issuer, the one audience, the identity source, and the route
    sending its requests to the function only through that authorizer."""
    authorizer = client.get_authorizer(ApiId=sibling.api_id, AuthorizerId=sibling.authorizer_id)
    jwt = authorizer.get("JwtConfiguration") or {}
    print(
        f"authorizer {authorizer['Name']} ({authorizer['AuthorizerType']}): issuer "
        f"{jwt.get('Issuer')}, audience {jwt.get('Audience')}, "
        f"identity source {authorizer.get('IdentitySource')}"
    )
    expected = {
        "type": (authorizer.get("AuthorizerType"), "JWT"),
        "issuer": (jwt.get("Issuer"), issuer),
        "audience": (jwt.get("Audience"), [audience]),
        "identity source": (authorizer.get("IdentitySource"), [IDENTITY_SOURCE]),
    }
    problems = [
        f"the authorizer's {what} is {found!r}, not {wanted!r}"
        for what, (found, wanted) in expected.items()
        if found != wanted
    ]
    route = client.get_route(ApiId=sibling.api_id, RouteId=sibling.route_id)
    print(
        f"route {route['RouteKey']}: authorization {route.get('AuthorizationType')}, "
        f"authorizer {route.get('AuthorizerId')}, target {route.get('Target')}"
    )
    expected = {
        "authorization type": (route.get("AuthorizationType"), "JWT"),
        "authorizer": (route.get("AuthorizerId"), sibling.authorizer_id),
        "target": (route.get("Target"), f"integrations/{sibling.integration_id}"),
    }
    problems += [
        f"the route {route['RouteKey']}'s {what} is {found!r}, not {wanted!r}"
        for what, (found, wanted) in expected.items()
        if found != wanted
    ]
    return problems


def delete_sibling(client, name: str) -> int:
    """Delete every HTTP API named ``name`` with all it holds; return how many there were."""
    apis = [api for api in client.get_apis()["Items"] if api["Name"] == name]
    for api in apis:
        client.delete_api(ApiId=api["ApiId"])
    return len(apis)


def create(stage: str) -> int:
    """Make the stage's sibling API anew, read its authorizer and route back, print what is
    wrong; 0 when nothing is."""
    cli = load(stage)
    issuer, audience = trusted(cli)
    if not issuer:
        print(
            "PROBLEM: no issuer for the sibling's authorizer: no JWT_ISSUER in the stage's "
            "secrets or the served version's environment, and no REST API for the stage's URL",
            file=sys.stderr,
        )
        return 1
    if not issuer.startswith("https://"):
        print(
            f"PROBLEM: the issuer {issuer!r} is not an https URL: API Gateway reads "
            "{issuer}/.well-known/openid-configuration over https only",
            file=sys.stderr,
        )
        return 1
    session = cli.zappa.boto_session
    client = session.client("apigatewayv2")
    name = sibling_name(cli.lambda_name)
    delete_sibling(client, name)
    account = session.client("sts").get_caller_identity()["Account"]
    function_arn = f"arn:aws:lambda:{session.region_name}:{account}:function:{name}"
    sibling = create_sibling(
        client, name=name, issuer=issuer, audience=audience, function_arn=function_arn
    )
    print(f"sibling HTTP API {name}: {sibling.api_id}, for {function_arn}")
    problems = configuration_problems(client, sibling, issuer=issuer, audience=audience)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


def delete(stage: str) -> int:
    """Delete the stage's sibling API; 1 if one is still there afterwards."""
    cli = load(stage)
    client = cli.zappa.boto_session.client("apigatewayv2")
    name = sibling_name(cli.lambda_name)
    print(f"sibling HTTP API {name}: {delete_sibling(client, name)} deleted")
    if any(api["Name"] == name for api in client.get_apis()["Items"]):
        print(f"PROBLEM: the sibling HTTP API {name} is still there", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.authorizer", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("create", "the sibling API, its JWT authorizer and route; read back, checked"),
        ("delete", "delete the sibling API"),
    ):
        commands.add_parser(name, help=text).add_argument("stage")
    args = parser.parse_args(argv)
    return {"create": create, "delete": delete}[args.command](args.stage)


if __name__ == "__main__":
    sys.exit(main())
