"""The lean Lambda package: what it leaves out, and every page still served from it.

Unzips ``build/auth-api-dev.zip`` (``scripts/package dev`` builds it when missing) as Lambda
does and runs the function's entry point from it in a fresh process, against PostgreSQL and
moto_server on 127.0.0.1: each page under the API Gateway stage, every asset the page links,
and the API, with neither the AWS SDK nor Zappa's handler loaded.
"""

import json
import re
import subprocess
import zipfile

import pytest

from devtools import PASSWORD, ROOT
from devtools.lambda_harness import api_gateway_event
from devtools.lambda_package import BUILD, FunctionStage, run_in_package

ZIP = BUILD / "auth-api-dev.zip"
PAGES = ["/", "/api/", "/api/docs/", "/api/redoc/", "/admin/login/", "/api/login/"]

# Runs in the unzipped package: each page, then every asset it links, as API Gateway events.
CHILD = r"""
import base64, copy, json, re, sys
ENTRY
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
sdk = sorted(name for name in ("boto3", "botocore", "zappa.handler") if name in sys.modules)
print(json.dumps({"answers": answers, "sdk": sdk, "imported_by_api": imported_by_api}))
"""


@pytest.fixture(scope="module")
def lean_zip():
    if not ZIP.exists():
        subprocess.run([str(ROOT / "scripts/package"), "dev"], check=True)
    return ZIP


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
    }
    assert {what: found[:3] for what, found in leftovers.items() if found} == {}
    assert "django/conf/locale/en/LC_MESSAGES/django.mo" in names


@pytest.mark.system
def test_every_page_and_asset_is_served_from_the_lean_package(lean_zip):
    credentials = {"email": "package@example.com", "password": PASSWORD}

    def event(method, path, body=None, accept="text/html"):
        headers = {"Accept": accept, "Content-Type": "application/json"}
        return api_gateway_event(
            method, path, "", headers, json.dumps(body) if body else None, "dev"
        )

    calls = {
        "pages": PAGES,
        "api": [
            ("register", event("POST", "/api/register/", credentials, "application/json")),
            ("login", event("POST", "/api/login/", credentials, "application/json")),
        ],
    }
    with FunctionStage("package") as stage:
        task, env = stage.unpacked(lean_zip)
        report = run_in_package(task, env, CHILD, [event("GET", "/"), calls])
    answers = report["answers"]
    # Neither the AWS SDK nor Zappa's handler is loaded to answer HTTP events, and the init
    # phase loaded everything the API's first requests need.
    assert report["sdk"] == []
    assert report["imported_by_api"] == [], report["imported_by_api"]
    failed = {path: answer for path, answer in answers.items() if answer[0] not in (200, 201)}
    assert failed == {}, failed
    assets = [path for path in answers if path.startswith("/static/")]
    assert len(assets) >= 20 and all(answers[path][1] > 0 for path in assets)
    assert answers["register"][0] == 201 and answers["login"][0] == 200
