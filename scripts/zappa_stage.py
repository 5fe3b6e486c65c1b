"""Steps of ``scripts/deploy`` and ``scripts/rehearse`` that Zappa's CLI does not offer.

``zappa deploy -z`` with a zip built elsewhere skips creating the execution role, and a local
zip goes up as a direct upload (50 MB limit). So, with Zappa's own objects:

    python -m scripts.zappa_stage prepare STAGE ZIP      roles + bucket + upload; prints the URL
    python -m scripts.zappa_stage deployed STAGE         exit 0 when the function exists
    python -m scripts.zappa_stage verify STAGE           what a deploy must have created
    python -m scripts.zappa_stage function-url STAGE     the Function URL on the SnapStart alias
    python -m scripts.zappa_stage public-base-url STAGE  the links of messages: the stage's URL
    python -m scripts.zappa_stage health STAGE [--url URL | --local]
                                                         wait for GET /api/health/ to say ok
                                                         (--local: through the entry point,
                                                         served by scripts/lambda-serve)
    python -m scripts.zappa_stage check-policy STAGE [FILE]
                                                         the role's policy: own logs, secrets,
                                                         SES identity, invoking itself

Run from the repository root with a venv that has Zappa and boto3 (build/venv or .venv).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path

import botocore.exceptions

from devtools import ROOT
from devtools.zappa import stage_cli


def load(stage: str):
    """Zappa's CLI object with ``zappa_settings.json`` loaded for ``stage`` (no AWS call)."""
    return stage_cli(stage)


def prepare(stage: str, zip_path: str) -> int:
    """Create the IAM role if Zappa manages it, then upload the zip to the stage's bucket."""
    cli = load(stage)
    if cli.manage_roles:
        cli.zappa.create_iam_roles()
    if not cli.zappa.upload_to_s3(zip_path, cli.s3_bucket_name, disable_progress=True):
        print("upload to S3 failed", file=sys.stderr)
        return 1
    print(f"s3://{cli.s3_bucket_name}/{os.path.basename(zip_path)}")
    return 0


def deployed(stage: str) -> int:
    """0 when the stage's function exists, 1 when it does not."""
    cli = load(stage)
    try:
        cli.zappa.lambda_client.get_function(FunctionName=cli.lambda_name)
    except botocore.exceptions.ClientError:
        return 1
    return 0


def verify(stage: str, requests: str | None = None) -> int:
    """Check the function, its settings, REST API, daily rule and Function URL; print them.

    ``requests``: moto_server's recording of the deploy, for what moto does not keep.
    """
    cli = load(stage)
    zappa = cli.zappa
    problems = []
    function = zappa.lambda_client.get_function(FunctionName=cli.lambda_name)["Configuration"]
    print(
        f"function {function['FunctionName']}: runtime {function['Runtime']}, "
        f"{function['MemorySize']} MB, timeout {function['Timeout']} s, "
        f"handler {function['Handler']}"
    )
    expected = {
        "Runtime": cli.runtime,
        "MemorySize": cli.memory_size,
        "Timeout": cli.timeout_seconds,
        "Handler": "app.aws.lambda_function.lambda_handler",
    }
    problems += [
        f"{key} is {function[key]!r}" for key, value in expected.items() if function[key] != value
    ]

    api_id = zappa.get_api_id(cli.lambda_name)
    print(f"REST API: {api_id}")
    if not api_id:
        problems.append("no REST API")

    rules = zappa.events_client.list_rules(NamePrefix=cli.lambda_name)["Rules"]
    schedules = {rule["Name"]: rule.get("ScheduleExpression") for rule in rules}
    print(f"rules: {schedules}")
    if not any(
        name.endswith("purge_expired") and expression == "rate(1 day)"
        for name, expression in schedules.items()
    ):
        problems.append("no daily purge rule")
    if any("keep_warm" in name for name in schedules):
        problems.append("a keep_warm rule exists although keep_warm is off")

    alias = zappa.lambda_client.get_alias(FunctionName=cli.lambda_name, Name=SNAPSTART_ALIAS)
    print(f"alias {SNAPSTART_ALIAS} -> version {alias['FunctionVersion']}")
    if alias["FunctionVersion"] == "$LATEST":
        problems.append("the SnapStart alias points at $LATEST, which SnapStart never snapshots")
    uri = zappa.apigateway_client.get_integration(
        restApiId=api_id, resourceId=_proxy_resource(zappa, api_id), httpMethod="ANY"
    )["uri"]
    print(f"API Gateway integration: {uri}")
    if not uri.endswith(f":{SNAPSTART_ALIAS}/invocations"):
        problems.append("API Gateway does not invoke the SnapStart alias")

    url = zappa.lambda_client.get_function_url_config(
        FunctionName=cli.lambda_name, Qualifier=SNAPSTART_ALIAS
    )
    cors = url.get("Cors")
    print(f"function URL: {url['FunctionUrl']} (auth {url['AuthType']}, CORS {cors or 'none'})")
    if cors and any(
        "*" in value for values in cors.values() if isinstance(values, list) for value in values
    ):
        problems.append(f"the function URL's CORS has a wildcard: {cors}")

    # What the snapshotted version's messages link (scripts/deploy sets it: public-base-url).
    served = zappa.lambda_client.get_function_configuration(
        FunctionName=cli.lambda_name, Qualifier=SNAPSTART_ALIAS
    )
    base = ((served.get("Environment") or {}).get("Variables") or {}).get("PUBLIC_BASE_URL")
    stage_url = zappa.get_api_url(cli.lambda_name, cli.api_stage)
    print(
        f"PUBLIC_BASE_URL of {SNAPSTART_ALIAS}: {base}"
        + ("" if base in (None, stage_url) else f" (not the stage's {stage_url}: set by hand)")
    )
    if not base:
        problems.append(f"the {SNAPSTART_ALIAS} version has no PUBLIC_BASE_URL")

    concurrency = zappa.lambda_client.get_function_concurrency(FunctionName=cli.lambda_name)
    reserved = concurrency.get("ReservedConcurrentExecutions")
    print(f"reserved concurrency: {reserved}")
    if reserved != cli.stage_config.get("lambda_concurrency"):
        problems.append(f"reserved concurrency is {reserved}")

    role = zappa.role_name
    attached = zappa.iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    inline = zappa.iam_client.list_role_policies(RoleName=role)["PolicyNames"]
    document = zappa.iam_client.get_role_policy(RoleName=role, PolicyName="zappa-permissions")
    policy = document["PolicyDocument"]
    if isinstance(policy, str):
        policy = json.loads(policy)
    print(f"execution role {role}: inline {inline}, attached {attached}")
    print(json.dumps(policy, indent=2))
    if attached or inline != ["zappa-permissions"]:
        problems.append("the role has policies besides zappa-permissions")
    problems += policy_problems(policy, **_own_resources(cli))

    if requests:
        problems += asked_for(Path(requests), cli.lambda_name)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


SNAPSTART_ALIAS = "snapstart"  # the alias Zappa keeps on the newest snapshotted version


def _json_objects(text: str):
    """Every JSON object of moto's recording. One a line, mostly: under concurrent requests
    two records can share a line, so read them one after another, not line by line."""
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return
        record, position = decoder.raw_decode(text, position)
        yield record


def asked_for(recording: Path, name: str) -> list[str]:
    """What the deploy asked of Lambda, from moto_server's recording: SnapStart on published
    versions, the alias, and the Function URL moved onto it. moto accepts both settings but
    reads back neither."""
    calls = []
    for call in _json_objects(recording.read_text()):
        body = call.get("body") or ""
        if call.get("body_encoded"):
            body = base64.b64decode(body).decode(errors="replace")
        # Functions may be named by their ARN: compare by name.
        path = urllib.parse.unquote(call["url"].split("/", 3)[-1])
        path = re.sub(r"arn:aws:lambda:[^/:]+:\d+:function:", "", path)
        calls.append((call["method"], path, body))

    def body_of(text):
        try:
            return json.loads(text or "{}")
        except ValueError:
            return {}

    wanted = {
        "SnapStart on published versions": lambda m, u, b: (
            m == "POST"
            and u == "2015-03-31/functions"
            and body_of(b).get("SnapStart") == {"ApplyOn": "PublishedVersions"}
        ),
        f"the {SNAPSTART_ALIAS} alias": lambda m, u, b: (
            m == "POST"
            and u == f"2015-03-31/functions/{name}/aliases"
            and body_of(b).get("Name") == SNAPSTART_ALIAS
        ),
        "the unqualified Function URL deleted": lambda m, u, b: (
            m == "DELETE" and u == f"2021-10-31/functions/{name}/url"
        ),
        f"a Function URL on {SNAPSTART_ALIAS}": lambda m, u, b: (
            m == "POST" and u == f"2021-10-31/functions/{name}/url?Qualifier={SNAPSTART_ALIAS}"
        ),
    }
    problems = []
    for what, matches in wanted.items():
        found = any(matches(*call) for call in calls)
        print(f"asked for {what}: {'yes' if found else 'NO'}")
        if not found:
            problems.append(f"the deploy did not ask for {what}")
    return problems


def _proxy_resource(zappa, api_id: str) -> str:
    resources = zappa.apigateway_client.get_resources(restApiId=api_id, limit=500)["items"]
    return next(item["id"] for item in resources if item["path"] == "/{proxy+}")


def function_url(stage: str) -> int:
    """Serve the Function URL from the SnapStart alias: Zappa makes it on the unqualified
    function, which runs ``$LATEST`` (never snapshotted) with a cold start on every instance."""
    cli = load(stage)
    lam = cli.zappa.lambda_client
    config = cli.function_url_config
    with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
        lam.delete_function_url_config(FunctionName=cli.lambda_name)
    try:
        lam.get_function_url_config(FunctionName=cli.lambda_name, Qualifier=SNAPSTART_ALIAS)
    except lam.exceptions.ResourceNotFoundException:
        url = lam.create_function_url_config(
            FunctionName=cli.lambda_name,
            Qualifier=SNAPSTART_ALIAS,
            AuthType=config["authorizer"],
        )["FunctionUrl"]
        print(f"function URL on {SNAPSTART_ALIAS}: {url}")
    if config["authorizer"] == "NONE":
        with contextlib.suppress(lam.exceptions.ResourceConflictException):
            lam.add_permission(
                FunctionName=cli.lambda_name,
                Qualifier=SNAPSTART_ALIAS,
                StatementId="FunctionURLAllowPublicAccess",
                Action="lambda:InvokeFunctionUrl",
                Principal="*",
                FunctionUrlAuthType="NONE",
            )
    return 0


def needed_grants(
    *, region: str, lambda_name: str, remote_env: str, ses_identity: str
) -> list[tuple[str, str, frozenset[str]]]:
    """What the function's execution role needs, each as (what it is for, the pattern of its
    resource's ARN, the actions on it); the account may be written as * in an ARN."""
    account = r"(\*|\d{12})"
    region = re.escape(region)
    return [
        (
            "its own log group",
            rf"arn:aws:logs:{region}:{account}:"
            + re.escape(f"log-group:/aws/lambda/{lambda_name}:")
            + r"\*",
            frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}),
        ),
        (
            "its own secrets",
            re.escape(f"arn:aws:s3:::{remote_env.removeprefix('s3://')}"),
            frozenset({"s3:GetObject"}),
        ),
        # Mail from the stage's SES identity only (docs/deploy.md, "Mail through SES").
        # https://docs.aws.amazon.com/ses/latest/dg/control-user-access.html
        (
            "the stage's SES identity",
            rf"arn:aws:ses:{region}:{account}:identity/{re.escape(ses_identity)}",
            frozenset({"ses:SendEmail", "ses:SendRawEmail"}),
        ),
        # The asynchronous tasks (app/tasks.py): Zappa invokes the function by its name, which
        # is the unqualified ARN ($LATEST), never a version or an alias.
        (
            "invoking itself",
            rf"arn:aws:lambda:{region}:{account}:function:{re.escape(lambda_name)}",
            frozenset({"lambda:InvokeFunction"}),
        ),
    ]


def public_base_url(stage: str) -> int:
    """Point the links of the function's messages, and the issuer of its tokens
    (``JWT_ISSUER``), at the stage's URL: unless the function has ``PUBLIC_BASE_URL`` already
    (set by hand, or by an earlier deploy), set both to the REST API's stage URL, then publish
    a version and move the SnapStart alias onto it, since a snapshot keeps the environment its
    version was published with. ``zappa update`` keeps variables that zappa_settings.json does
    not name, so this is done once per stage."""
    cli = load(stage)
    zappa, name = cli.zappa, cli.lambda_name
    lam = zappa.lambda_client
    configuration = lam.get_function_configuration(FunctionName=name)
    variables = dict((configuration.get("Environment") or {}).get("Variables") or {})
    if variables.get("PUBLIC_BASE_URL"):
        print(f"PUBLIC_BASE_URL stays {variables['PUBLIC_BASE_URL']}")
        return 0
    url = zappa.get_api_url(name, cli.api_stage)
    if not url:
        print("no REST API yet: PUBLIC_BASE_URL left unset", file=sys.stderr)
        return 1
    variables["PUBLIC_BASE_URL"] = url
    # The issuer of its tokens and discovery document: the same URL, unless set by hand.
    variables.setdefault("JWT_ISSUER", url)
    zappa.wait_until_lambda_function_is_updated(name)
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": variables})
    zappa.wait_until_lambda_function_is_updated(name)
    version = lam.publish_version(FunctionName=name)["Version"]
    zappa.wait_until_lambda_function_version_is_active(name, version)
    zappa.migrate_lambda_alias(name, SNAPSTART_ALIAS, version)
    print(f"PUBLIC_BASE_URL={url}, published as version {version}, alias {SNAPSTART_ALIAS}")
    return 0


def policy_problems(
    policy: dict, *, region: str, lambda_name: str, remote_env: str, ses_identity: str
) -> list[str]:
    """What in an execution role's policy uses a wildcard action, grants past this function's
    own log group, its own secrets object, the stage's SES identity and invoking itself (or
    another action on one of those than the function needs), and what of those it lacks."""
    needed = needed_grants(
        region=region, lambda_name=lambda_name, remote_env=remote_env, ses_identity=ses_identity
    )
    granted: set[tuple[str, str]] = set()
    problems = []
    for statement in policy["Statement"]:
        if statement.get("Effect") == "Deny":
            continue  # a denial only takes away
        for negated in ("NotAction", "NotResource"):
            if negated in statement:
                problems.append(f"{negated} grants everything it does not name")
        actions, resources = statement.get("Action", []), statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        for action in actions:
            if "*" in action:
                problems.append(f"wildcard action {action}")
        for resource in [resources] if isinstance(resources, str) else resources:
            grant = next((grant for grant in needed if re.fullmatch(grant[1], resource)), None)
            if grant is None:
                problems.append(f"resource outside the function's own: {resource}")
                continue
            what, _, allowed = grant
            for action in actions:
                if action in allowed:
                    granted.add((what, action))
                elif "*" not in action:
                    problems.append(f"{action} on {resource}: not needed for {what}")
    for what, _, allowed in needed:
        for action in sorted(allowed):
            if (what, action) not in granted:
                problems.append(f"missing {action} for {what}")
    return problems


def _own_resources(cli) -> dict[str, str]:
    return {
        "region": cli.aws_region,
        "lambda_name": cli.lambda_name,
        "remote_env": cli.stage_config["remote_env"],
        "ses_identity": cli.stage_config["ses_identity"],
    }


def check_policy(stage: str, path: str | None = None) -> int:
    """Check the stage's ``attach_policy`` file (or ``path``); print each problem."""
    cli = load(stage)
    policy = json.loads(Path(path or ROOT / cli.stage_config["attach_policy"]).read_text())
    problems = policy_problems(policy, **_own_resources(cli))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


def health(stage: str, url: str | None = None, *, attempts: int = 12, pause: float = 5) -> int:
    """Ask the deployed stage's ``/api/health/`` (``url``, or the REST API's stage URL) until it
    answers 200 ``{"status": "ok"}``: the function starts and reaches its database. A 503 (the
    database not yet reachable, or the issuer not yet set) is asked again, ``attempts`` times
    ``pause`` seconds apart. Returns 0 once healthy, else 1."""
    from devtools.http import request

    if url is None:
        cli = load(stage)
        url = cli.zappa.get_api_url(cli.lambda_name, cli.api_stage)
    answer = None
    for attempt in range(attempts):
        answer = request(f"{url.rstrip('/')}/api/health/", headers={"Accept": "application/json"})
        if answer.status == 200 and answer.json() == {"status": "ok"}:
            print(f"healthy: {url}/api/health/ answered 200")
            return 0
        if attempt + 1 < attempts:
            time.sleep(pause)
    status = answer.status if answer else 0
    print(f"PROBLEM: {url}/api/health/ answered {status} {attempts} times", file=sys.stderr)
    return 1


def health_local(stage: str) -> int:
    """``health`` of the function's entry point served on 127.0.0.1 by ``scripts/lambda-serve``
    (its own SQLite database): the rehearsal's stand-in, since moto runs no function code."""
    from devtools.live_server import start_lambda_serve

    database = ROOT / "build" / f"rehearse-{stage}.sqlite3"
    database.unlink(missing_ok=True)
    log_path = ROOT / "build" / f"rehearse-{stage}-lambda-serve.log"
    # Its own stand-ins for AWS, in-process, not the rehearsal's moto_server.
    env = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    with log_path.open("w") as log:
        process, url = start_lambda_serve(f"sqlite:///{database}", log, env=env)
    try:
        return health(stage, url, attempts=3, pause=1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    """Dispatch the sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.zappa_stage", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_command = commands.add_parser("prepare", help="roles, bucket, upload the zip")
    prepare_command.add_argument("stage")
    prepare_command.add_argument("zip")
    for name, text in (
        ("deployed", "exit 0 when the function exists"),
        ("function-url", "the Function URL on the SnapStart alias"),
        ("public-base-url", "PUBLIC_BASE_URL: the stage's URL, unless set"),
    ):
        commands.add_parser(name, help=text).add_argument("stage")
    verify_command = commands.add_parser("verify", help="check a deploy")
    verify_command.add_argument("stage")
    verify_command.add_argument("--requests", help="moto_server's recording of the deploy")
    health_command = commands.add_parser("health", help="wait for /api/health/ to say ok")
    health_command.add_argument("stage")
    health_command.add_argument("--url", help="the base URL (default: the stage's REST API)")
    health_command.add_argument(
        "--local", action="store_true", help="the function's entry point, on 127.0.0.1"
    )
    health_command.add_argument("--attempts", type=int, default=12)
    health_command.add_argument("--pause", type=float, default=5)
    policy_command = commands.add_parser("check-policy", help="the execution role's policy")
    policy_command.add_argument("stage")
    policy_command.add_argument("file", nargs="?")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(args.stage, args.zip)
    if args.command == "check-policy":
        return check_policy(args.stage, args.file)
    if args.command == "verify":
        return verify(args.stage, args.requests)
    if args.command == "health" and args.local:
        return health_local(args.stage)
    if args.command == "health":
        return health(args.stage, args.url, attempts=args.attempts, pause=args.pause)
    commands = {
        "deployed": deployed,
        "function-url": function_url,
        "public-base-url": public_base_url,
    }
    return commands[args.command](args.stage)


if __name__ == "__main__":
    sys.exit(main())
