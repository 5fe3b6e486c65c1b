"""One small HTTP client for servers on 127.0.0.1, and what pages link."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from devtools import PASSWORD

# The static files a page links: scripts, styles, images.
STATIC_ASSET = re.compile(r'(?:src|href)="([^"]+\.(?:js|css|png))"')


@dataclass
class Reply:
    """One HTTP answer, from a server on 127.0.0.1 (``request``) or from the Lambda function
    (``Reply.from_lambda``): status, headers (case-insensitive, repeatable), body."""

    status: int
    headers: Message
    content: bytes

    @classmethod
    def from_lambda(cls, raw: dict) -> Reply:
        """The answer the Lambda function returned (API Gateway v1 or payload 2.0)."""
        body = raw.get("body") or ""
        content = base64.b64decode(body) if raw.get("isBase64Encoded") else body.encode()
        headers = Message()
        multi = raw.get("multiValueHeaders") or {
            name: [value] for name, value in (raw.get("headers") or {}).items()
        }
        for name, values in multi.items():
            for value in values:
                headers[name] = value
        for cookie in raw.get("cookies") or []:
            headers["Set-Cookie"] = cookie
        return cls(raw["statusCode"], headers, content)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or ``None``."""
        return self.headers.get(name)

    @property
    def cookies(self) -> list[str]:
        """Every ``Set-Cookie`` value."""
        return self.headers.get_all("Set-Cookie") or []

    def json(self):
        """The body as JSON."""
        return json.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode()


def request(
    url: str, method: str = "GET", body=None, headers: dict | None = None, opener=None
) -> Reply:
    """Send one request (``body`` as JSON when given); any status comes back, none raises."""
    data = json.dumps(body).encode() if body is not None else None
    outgoing = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        outgoing.add_header("Content-Type", "application/json")
    try:
        with (opener or urllib.request.build_opener()).open(outgoing, timeout=60) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        # Nobody answered (yet): status 0, for callers that wait for a server.
        return Reply(0, {}, b"")


def static_assets(html: str) -> list[str]:
    """Every script, style sheet and image ``html`` links."""
    return STATIC_ASSET.findall(html)


def admin_login_form(
    page: str, email: str = "admin@example.com", next_url: str = "/dev/admin/"
) -> dict[str, str]:
    """The admin login form's fields, with the CSRF token read from the login ``page``."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    return {"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD, "next": next_url}


class Browser:
    """Just enough of a browser for the admin over plain HTTP: it keeps the cookies (which
    say Secure, as they must in production) and sends them back itself."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def go(self, path: str, form: dict | None = None) -> tuple[int, str]:
        """GET ``path``, or POST ``form`` to it; the status and the page, redirects not
        followed."""
        headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
        data = None
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.base
        outgoing = urllib.request.Request(
            self.base + path, data=data, method="POST" if form else "GET", headers=headers
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            response = opener.open(outgoing, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        for value in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        return response.status, response.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as they are: a login's 302 is its answer."""

    def redirect_request(self, *args, **kwargs):
        return None
