"""The WSGI environ of a Lambda event, completed as Zappa's handler did: the stage prefix, the
client address API Gateway saw, and text as PEP 3333 has it."""

import re
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment


class ApiGatewayEnviron:
    """Complete what apig-wsgi makes of an event, as Zappa's handler did, before Django sees it.

    - ``SCRIPT_NAME``: a REST API event for the ``execute-api`` host (or with no host, a test
      from the console) is served under ``/STAGE``, which the event's path leaves out; an HTTP
      API event names the stage in its path. A Function URL or a custom domain has no prefix.
    - ``REMOTE_ADDR``: the address API Gateway saw (``sourceIp``), not the first entry of
      ``X-Forwarded-For``, which the client writes. Login throttling per address depends on it.
      An event without ``sourceIp`` (``identity`` may be null) has an unknown address: empty.
    - Headers, path and query as PEP 3333 has them: one character per byte read (ISO-8859-1).
    """

    def __init__(self, application: WSGIApplication) -> None:
        self.application = application

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Fix ``environ`` up from the event apig-wsgi left in it, then call the application."""
        event = environ.get("apig_wsgi.full_event")
        if not event:
            # Not from apig-wsgi: a WSGI server made this environ, REMOTE_ADDR included.
            return self.application(environ, start_response)
        _as_wsgi_strings(environ)
        context = event.get("requestContext") or {}
        stage = context.get("stage") or ""
        if event.get("version") == "2.0":
            prefix = f"/{stage}"
            path = environ["PATH_INFO"]
            if stage not in ("", "$default") and (path == prefix or path.startswith(prefix + "/")):
                environ["SCRIPT_NAME"], environ["PATH_INFO"] = prefix, path[len(prefix) :] or "/"
        elif stage:
            host = environ.get("HTTP_HOST", "")
            if not host or host.endswith(".amazonaws.com"):
                environ["SCRIPT_NAME"] = f"/{stage}"
        source_ip = (context.get("identity") or {}).get("sourceIp") or (
            context.get("http") or {}
        ).get("sourceIp")
        # Without sourceIp apig-wsgi leaves 127.0.0.1 or the first X-Forwarded-For entry, which
        # the client writes: either would let one client pose as another (or as this host).
        environ["REMOTE_ADDR"] = source_ip or ""
        return self.application(environ, start_response)


def _as_wsgi_strings(environ: WSGIEnvironment) -> None:
    # PEP 3333: CGI values are native strings of bytes decoded as ISO-8859-1. apig-wsgi copies
    # the event's text, which API Gateway decoded as UTF-8, so a character above U+00FF (a
    # header ``Bearer \u2603``) would make Django or DRF raise UnicodeEncodeError: give such a
    # value the UTF-8 bytes a WSGI server would have read off the wire.
    for key, value in environ.items():
        if "." in key or not isinstance(value, str) or _is_latin_1(value):
            continue
        if key == "PATH_INFO":
            # apig-wsgi already turned its %XX escapes into one Latin-1 character per byte:
            # re-encode only what is beyond Latin-1, or those bytes would be encoded twice.
            environ[key] = _BEYOND_LATIN_1.sub(lambda run: _utf8_as_latin_1(run[0]), value)
        else:
            environ[key] = _utf8_as_latin_1(value)


_BEYOND_LATIN_1 = re.compile(r"[^\x00-\xff]+")


def _is_latin_1(text: str) -> bool:
    return _BEYOND_LATIN_1.search(text) is None


def _utf8_as_latin_1(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("latin-1")
