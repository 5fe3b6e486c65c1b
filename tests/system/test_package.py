"""The lean Lambda package: what it holds and leaves out, its size, every page still served from
it, and mail sent from it.

Unzips ``build/auth-api-dev.zip`` (``scripts/package dev`` builds it when missing) as Lambda
does and runs the function's entry point from it in a fresh process, against PostgreSQL and
moto_server on 127.0.0.1: each page under the API Gateway stage, every asset the page links,
and the API, with neither the AWS SDK nor Zappa's handler loaded by the init phase or by a
request that sends no mail; then requests that mail, their asynchronous invocations handed back
to the entry point, and the messages sent through SES.
"""

import json
import re
import subprocess
import zipfile

import pytest

from devtools import PASSWORD, ROOT
from devtools.lambda_harness import API_HOST, api_gateway_event, verify_ses_identity
from devtools.lambda_package import BUILD, FunctionStage, run_in_package
from devtools.zappa import stage_config
from scripts.check_package import UNZIPPED_LIMIT, ZIPPED_LIMIT

ZIP = BUILD / "auth-api-dev.zip"
PAGES = ["/", "/api/", "/api/docs/", "/api/redoc/", "/admin/login/", "/api/login/"]
ADMIN = "package@example.com"
SES_IDENTITY = stage_config("dev")["ses_identity"]

# Runs in the unzipped package: what the init phase loaded, the API's first requests (none
# sends mail), then each page and every asset it links, as API Gateway events.
CHILD = r"""
import base64, copy, json, re, sys
ENTRY
after_init = sorted(name for name in AWS_SDK_MODULES if name in sys.modules)
template, calls = json.loads(sys.stdin.read())
def get(path, query=None):
    event = copy.deepcopy(template)
    event["path"], event["queryStringParameters"] = path, query
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = "/dev" + path
    response = lambda_handler(event, None)
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response["statusCode"], raw
answers = {}
# The API first: what its requests import that the init phase did not.
before = set(sys.modules)
for name, event in calls["api"]:
    answers[name] = [lambda_handler(event, None)["statusCode"], 0]
imported_by_api = sorted(set(sys.modules) - before)
for page in calls["pages"]:
    status, raw = get(page)
    answers[page] = [status, len(raw)]
    for asset in re.findall(r'(?:src|href)="/dev(/static/[^"]+)"', raw.decode()):
        answers[asset] = list(map(lambda v: v if isinstance(v, int) else len(v), get(asset)))
answers["script"] = [get("/api/docs/", {"script": ""})[0], 0]
sdk = sorted(name for name in AWS_SDK_MODULES if name in sys.modules)
print(json.dumps({"answers": answers, "after_init": after_init, "sdk": sdk,
                  "imported_by_api": imported_by_api}))
"""

# Runs in the unzipped package: requests that mail, then what Lambda does with the "Event"
# invocations they queue. moto runs no function, so they are caught here and handed back to
# the handler (as devtools.lambda_harness.async_invocations does, which a process with the
# package's path alone cannot import); SES is moto_server's, and nothing else may be reached.
MAIL_CHILD = r"""
import io, json, os, re, sys
ENTRY
calls = json.loads(sys.stdin.read())
import boto3, zappa.asynchronous
from botocore.awsrequest import AWSResponse
from botocore.httpsession import URLLib3Session
from botocore.response import StreamingBody
endpoint, send, refused = os.environ["AWS_ENDPOINT_URL"], URLLib3Session.send, []
def moto_only(session, request):
    if not request.url.startswith(endpoint + "/"):
        refused.append(request.url)
        raise AssertionError(f"stopped: {request.url}")
    return send(session, request)
URLLib3Session.send = moto_only
client, queued = boto3.client("lambda"), []
client.meta.events.register(
    "provide-client-params.lambda.Invoke", lambda params, **_: queued.append(dict(params)))
client.meta.events.register("before-call.lambda.Invoke", lambda params, **_: (
    AWSResponse(params.get("url", ""), 202, {}, None),
    {"StatusCode": 202, "Payload": StreamingBody(io.BytesIO(b""), 0)}))
zappa.asynchronous.LAMBDA_CLIENT = client
from django_ses.signals import message_sent
sent = []
def record(sender, message, **_):
    sent.append({"to": message.to, "ses_message_id": message.extra_headers.get("message_id"),
                 "links": re.findall(r"https://\S+\?token=[\w-]+", message.body)})
message_sent.connect(record, weak=False)
answers = {name: lambda_handler(event, None)["statusCode"] for name, event in calls}
answered_with_mail = list(sent)
invocations = [{"InvocationType": q["InvocationType"], **json.loads(q["Payload"])} for q in queued]
for invocation in queued:
    lambda_handler(json.loads(invocation["Payload"]), None)
print(json.dumps({"answers": answers, "answered_with_mail": answered_with_mail,
                  "invocations": invocations, "sent": sent, "refused": refused}))
"""


@pytest.fixture(scope="module")
def lean_zip():
    if not ZIP.exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    return ZIP


def event(method, path, body=None, accept="application/json"):
    """An API Gateway event of the dev stage for ``path``, with a JSON ``body``."""
    headers = {"Accept": accept, "Content-Type": "application/json"}
    return api_gateway_event(method, path, "", headers, json.dumps(body) if body else None, "dev")


@pytest.mark.system
def test_the_package_leaves_out_source_maps_copies_translations_and_unused_code(lean_zip):
    names = zipfile.ZipFile(lean_zip).namelist()
    leftovers = {
        "source maps": [n for n in names if n.endswith(".map")],
        "precompressed copies": [
            n for n in names if n.startswith("staticfiles/") and n.endswith((".gz", ".br"))
        ],
        "translations but English": [n for n in names if re.search(r"/locale/(?!en[/_])[^/]+/", n)],
        "unhashed static copies": [
            n
            for n in names
            if n.startswith("staticfiles/")
            and n.endswith(".js")
            and not re.search(r"\.[0-9a-f]{12}\.js$", n)
        ],
        "Zappa's command line": [
            n for n in names if n.split("/")[0] in {"click", "tqdm", "pkg_resources"}
        ],
        "django.contrib.gis": [n for n in names if n.startswith("django/contrib/gis/")],
        "requests, which DRF imports when present": [
            n for n in names if n.split("/")[0] in {"requests", "urllib3", "charset_normalizer"}
        ],
        # django-ses needs boto3, which the Lambda runtime provides.
        "the AWS SDK": [
            n for n in names if n.split("/")[0] in {"boto3", "botocore", "s3transfer", "jmespath"}
        ],
    }
    assert {what: found[:3] for what, found in leftovers.items() if found} == {}
    assert "django/conf/locale/en/LC_MESSAGES/django.mo" in names


@pytest.mark.system
def test_the_package_holds_django_ses_and_every_template_the_mail_and_its_pages_use(lean_zip):
    names = set(zipfile.ZipFile(lean_zip).namelist())
    templates = sorted(
        str(path.relative_to(ROOT))
        for folder in ("app/templates", "app/accounts/templates")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    )
    assert "app/templates/account_link.html" in templates
    assert "app/accounts/templates/accounts/mail/password_reset.txt" in templates
    assert [name for name in templates if name not in names] == []
    assert "django_ses/__init__.py" in names


@pytest.mark.system
def test_the_package_is_within_lambdas_size_limits(lean_zip):
    entries = zipfile.ZipFile(lean_zip).infolist()
    zipped, unzipped = lean_zip.stat().st_size, sum(entry.file_size for entry in entries)
    print(f"{zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped")
    assert zipped <= ZIPPED_LIMIT and unzipped <= UNZIPPED_LIMIT


@pytest.mark.system
def test_every_page_and_asset_is_served_from_the_lean_package(lean_zip):
    calls = {
        "pages": PAGES,
        "api": [
            ("login", event("POST", "/api/login/", {"email": ADMIN, "password": PASSWORD})),
            (
                "register refused",
                event("POST", "/api/register/", {"email": "short@example.com", "password": "x"}),
            ),
            ("refresh refused", event("POST", "/api/refresh/", {"refresh_token": "x"})),
        ],
    }
    with FunctionStage("package") as stage:
        stage.manage(
            "createsuperuser",
            "--noinput",
            DJANGO_SUPERUSER_EMAIL=ADMIN,
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        task, env = stage.unpacked(lean_zip)
        report = run_in_package(task, env, CHILD, [event("GET", "/", accept="text/html"), calls])
    answers = report["answers"]
    # Neither the AWS SDK nor Zappa's handler (nor its asynchronous tasks, nor django-ses) is
    # loaded by the init phase or to answer HTTP events that send no mail, and the init phase
    # loaded everything the API's first requests need.
    assert report["after_init"] == []
    assert report["sdk"] == []
    assert report["imported_by_api"] == [], report["imported_by_api"]
    assert answers.pop("register refused")[0] == 400 and answers.pop("refresh refused")[0] == 400
    failed = {path: answer for path, answer in answers.items() if answer[0] not in (200, 201)}
    assert failed == {}, failed
    assets = [path for path in answers if path.startswith("/static/")]
    assert len(assets) >= 20 and all(answers[path][1] > 0 for path in assets)
    assert answers["login"][0] == 200


@pytest.mark.system
def test_mail_goes_out_from_the_lean_package_in_its_asynchronous_invocations_through_ses(lean_zip):
    sender = f"no-reply@{SES_IDENTITY}"
    calls = [
        (
            "register",
            event("POST", "/api/register/", {"email": "new@example.com", "password": PASSWORD}),
        ),
        ("reset", event("POST", "/api/password/reset/", {"email": ADMIN})),
    ]
    with FunctionStage("package_mail") as stage:
        stage.manage(
            "createsuperuser",
            "--noinput",
            DJANGO_SUPERUSER_EMAIL=ADMIN,
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        verify_ses_identity(SES_IDENTITY, endpoint_url=stage.endpoint)
        task, env = stage.unpacked(lean_zip)
        env["DJANGO_DEFAULT_FROM_EMAIL"] = f"Authentication API <{sender}>"
        report = run_in_package(task, env, MAIL_CHILD, calls)
    assert report["answers"] == {"register": 201, "reset": 202}
    assert report["answered_with_mail"] == []
    tasks = [(each["InvocationType"], each["task_path"]) for each in report["invocations"]]
    assert tasks == [
        ("Event", "app.accounts.recovery.send_verification"),
        ("Event", "app.accounts.recovery.send_password_reset"),
    ]
    base = f"https://{API_HOST}/dev"
    sent = {message["to"][0]: message for message in report["sent"]}
    assert sorted(sent) == sorted([ADMIN, "new@example.com"])
    assert all(message["ses_message_id"] for message in sent.values())
    assert [link.split("?")[0] for link in sent["new@example.com"]["links"]] == [
        f"{base}/email/verify/"
    ]
    assert [link.split("?")[0] for link in sent[ADMIN]["links"]] == [f"{base}/password/reset/"]
    assert report["refused"] == []
