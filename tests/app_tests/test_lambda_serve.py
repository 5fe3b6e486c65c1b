"""``scripts/lambda-serve``: the real handler behind a local HTTP front, production settings.

Runs the script as a person would (debug off, hashed static files, secrets from moto's S3) and
talks HTTP to it on 127.0.0.1 with the API Gateway stage prefix; mail goes out as on Lambda,
from an asynchronous invocation the script runs after the response, through moto's SES.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import pytest

from devtools import ROOT
from devtools.http import admin_login_form, request, static_assets
from devtools.live_server import start_lambda_serve
from tests.accounts_tests.factories import PASSWORD


@pytest.mark.slow
class LambdaServeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        database_url = f"sqlite:///{cls.folder.name}/lambda-serve.sqlite3"
        cls.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "app.settings",
        }
        cls.log = open(os.path.join(cls.folder.name, "serve.log"), "w")  # noqa: SIM115
        cls.server, cls.base = start_lambda_serve(database_url, cls.log)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=30)
        cls.log.close()
        cls.folder.cleanup()

    def request(self, method, path, body=None, headers=None, opener=None):
        reply = request(self.base + path, method, body, headers, opener)
        return reply.status, reply.headers, reply.content

    def test_the_readme_session_works_through_the_handler(self):
        credentials = {"email": "serve@example.com", "password": PASSWORD}
        status, _, body = self.request("POST", "/api/register/", credentials)
        self.assertEqual(status, 201, body)
        status, _, body = self.request("POST", "/api/login/", credentials)
        pair = json.loads(body)
        auth = {"Authorization": f"Bearer {pair['access_token']}"}
        status, _, body = self.request("GET", "/api/me/", headers=auth)
        self.assertEqual(json.loads(body)["email"], "serve@example.com")
        status, _, body = self.request(
            "POST", "/api/refresh/", {"refresh_token": pair["refresh_token"]}
        )
        self.assertEqual(status, 200)
        status, headers, body = self.request(
            "GET", "/api/me/", headers={"Authorization": "Bearer x"}
        )
        self.assertEqual(status, 401)
        self.assertIn('error="invalid_token"', headers["WWW-Authenticate"])

    def mailed_link(self, to: str, page: str, timeout: float = 30) -> str:
        """The link to ``page`` of a message SES sent to ``to``, as the server prints it."""
        deadline = time.monotonic() + timeout
        link = re.escape(f"{self.base}{page}?token=") + r"\S+"
        pattern = re.compile(rf"lambda-serve: SES sent .* to {re.escape(to)}: ({link})")
        while time.monotonic() < deadline:
            with open(self.log.name) as log:
                found = pattern.search(log.read())
            if found:
                return found[1]
            time.sleep(0.1)
        self.fail(f"no message to {to} linking {page} within {timeout} s")

    def test_a_reset_is_mailed_after_the_answer_with_a_link_back_here_whose_token_works(self):
        credentials = {"email": "reset@example.com", "password": PASSWORD}
        self.request("POST", "/api/register/", credentials)
        status, _, body = self.request(
            "POST", "/api/password/reset/", {"email": "reset@example.com"}
        )
        self.assertEqual(status, 202, body)
        link = self.mailed_link("reset@example.com", "/password/reset/")
        self.assertEqual(request(link).status, 200)
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
        new_password = {"token": token, "new_password": "a-brand-new-horse-battery"}
        status, _, body = self.request("POST", "/api/password/reset/confirm/", new_password)
        self.assertEqual(status, 200, body)

    def test_sixteen_simultaneous_refreshes_are_all_answered_with_one_successor(self):
        credentials = {"email": "burst@example.com", "password": PASSWORD}
        self.request("POST", "/api/register/", credentials)
        _, _, body = self.request("POST", "/api/login/", credentials)
        refresh = {"refresh_token": json.loads(body)["refresh_token"]}
        barrier = threading.Barrier(16)

        def one(_):
            barrier.wait(timeout=30)
            status, _, body = self.request("POST", "/api/refresh/", refresh)
            return status, json.loads(body).get("refresh_token")

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(16)))
        # Within the reuse interval every one of them is a retry of the first: one chain.
        self.assertEqual([status for status, _ in answers], [200] * 16)
        self.assertEqual(len({token for _, token in answers}), 1)

    def test_docs_link_hashed_static_files_under_the_stage_and_all_load(self):
        status, _, body = self.request("GET", "/api/docs/")
        self.assertEqual(status, 200)
        assets = static_assets(body.decode())
        self.assertTrue(assets)
        for asset in assets:
            with self.subTest(asset=asset):
                # The manifest storage of production: names carry a content hash.
                self.assertRegex(asset, r"^/dev/static/.+\.[0-9a-f]{12}\.(js|css|png)$")
                status, _, content = self.request("GET", asset[len("/dev") :])
                self.assertEqual(status, 200)
                self.assertTrue(content)

    def test_paths_outside_the_stage_get_api_gateways_403(self):
        url = self.base.rsplit("/dev", 1)[0] + "/api/docs/"
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=10)
        self.assertEqual(caught.exception.code, 403)

    def test_admin_login_with_csrf_reaches_the_constance_page(self):
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput"],
            cwd=ROOT,
            env={
                **self.env,
                "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
                "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            },
            check=True,
            capture_output=True,
        )
        cookies = {}

        def call(method, path, form=None, headers=None):
            headers = {
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                **(headers or {}),
            }
            data = urllib.parse.urlencode(form).encode() if form else None
            request = urllib.request.Request(
                self.base + path, data=data, method=method, headers=headers
            )
            opener = urllib.request.build_opener(NoRedirect)
            try:
                response = opener.open(request, timeout=30)
            except urllib.error.HTTPError as error:
                response = error
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie(header)
                cookies.update({name: morsel.value for name, morsel in cookie.items()})
                self.assertIn("Secure", header)
            return response.status, response.headers, response.read()

        status, _, body = call("GET", "/admin/login/")
        self.assertIn(b"/dev/static/admin/css/base.", body)
        origin = self.base.rsplit("/dev", 1)[0]
        status, headers, _ = call(
            "POST",
            "/admin/login/",
            form=admin_login_form(body.decode()),
            headers={
                "Origin": origin,
                "Referer": f"{self.base}/admin/login/",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        self.assertEqual(status, 302)
        self.assertEqual(headers["Location"], "/dev/admin/")
        status, _, body = call("GET", "/admin/constance/config/")
        self.assertEqual(status, 200)
        self.assertIn(b"ACCESS_TOKEN_LIFETIME", body)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
