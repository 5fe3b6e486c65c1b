"""Structured logs: the fields of one invocation or request, the two line formats, and the one
line every request leaves.

On Lambda each line is one JSON object with the field names of Powertools for AWS Lambda's
Logger (``level``, ``location``, ``message``, ``timestamp``, ``service``, ``cold_start``,
``function_request_id``, ``correlation_id``, ``exception``, ``exception_name``), so that
CloudWatch Logs Insights queries written for Powertools work here:
https://docs.powertools.aws.dev/lambda/python/latest/core/logger/#standard-structured-keys
Elsewhere a line is text for people. python-json-logger serialises (docs/decisions.md says
why not Powertools itself).

Fields bound with ``bind`` or ``scope`` go on every line logged in the same context (a thread,
or one invocation); ``extra={...}`` adds fields to one line. No line holds a secret: the
request line names the path without its query (links carry tokens there), and no header,
cookie or body is ever logged.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

# Never mutated, only replaced: a context copied into a thread cannot change its parent's.
_fields: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "log_fields", default=MappingProxyType({})
)

REQUEST_LOGGER = "app.request"
request_logger = logging.getLogger(REQUEST_LOGGER)


def bind(**fields: Any) -> None:
    """Add ``fields`` to every later line of the current context."""
    _fields.set(MappingProxyType({**_fields.get(), **fields}))


@contextlib.contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every line logged inside the block; undone at its end, with anything
    ``bind`` added inside it."""
    token = _fields.set(MappingProxyType({**_fields.get(), **fields}))
    try:
        yield
    finally:
        _fields.reset(token)


def bound() -> Mapping[str, Any]:
    """The fields bound in the current context."""
    return _fields.get()


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per line, in Powertools' layout: its fields first, then the bound
    fields, then the line's extras; ``exception`` and ``exception_name`` for an error's
    traceback."""

    def __init__(self, *args: Any, service: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Powertools' keys, the context's, then the record's extras (python-json-logger's
        hook)."""
        log_data["level"] = record.levelname
        # Powertools' "location": the function and line that logged.
        log_data["location"] = f"{record.funcName}:{record.lineno}"
        log_data["message"] = record.message
        log_data["timestamp"] = self.formatTime(record)
        if self.service:
            log_data["service"] = self.service
        # Not Powertools': which logger, so that a query can pick the request lines or the
        # security events (app.security) out.
        log_data["logger"] = record.name
        log_data.update(_fields.get())
        merge_record_extra(record, log_data, reserved=_RESERVED)
        exception = message_dict.get("exc_info")
        if exception:
            log_data["exception"] = exception
            if record.exc_info and record.exc_info[0] is not None:
                log_data["exception_name"] = record.exc_info[0].__name__
        if message_dict.get("stack_info"):
            log_data["stack_trace"] = message_dict["stack_info"]

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Powertools' default timestamp, in UTC: ``2026-12-02 04:25:13,123+0000``."""
        seconds = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
        return f"{seconds},{int(record.msecs):03d}+0000"


# The attributes every LogRecord has (python-json-logger's list): the rest are extras.
_RESERVED = frozenset({*RESERVED_ATTRS, "exc_info", "stack_info"})


class TextFormatter(logging.Formatter):
    """A line for people: ``INFO app.request GET /api/login/ 200 12.3 ms user_id=3``, the
    line's extras as ``key=value`` after its message (but those the message already says)."""

    def format(self, record: logging.LogRecord) -> str:
        """The level, logger and message, the extras, then any traceback on its own lines."""
        said = set(getattr(record, "_in_message", ()))
        extras = merge_record_extra(record, {}, reserved=_RESERVED)
        pairs = "".join(f" {key}={value}" for key, value in extras.items() if key not in said)
        line = f"{record.levelname} {record.name} {record.getMessage()}{pairs}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class WithCauseOnly(logging.Filter):
    """For ``django.request``: keep the errors that carry their exception (an unexpected 500's
    traceback, the cause), drop the lines that only repeat a status ("Not Found: /path",
    "Service Unavailable: /api/login/"), which the request line already has."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is an error with exception information."""
        return record.levelno >= logging.ERROR and record.exc_info is not None


def logging_config(*, log_format: str, level: str, service: str) -> dict[str, Any]:
    """The ``LOGGING`` setting: lines in ``log_format`` (``json`` or ``text``) to stderr, the
    root at ``level``, the request line and security events at INFO whatever ``level``."""
    formatter: dict[str, Any] = (
        {"()": "app.logs.JsonFormatter", "service": service}
        if log_format == "json"
        else {"()": "app.logs.TextFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "filters": {"with_cause_only": {"()": "app.logs.WithCauseOnly"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "line"},
            "null": {"class": "logging.NullHandler"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handler (debug only) would print each of its lines a second
            # time, beside the root's: its records go to the root alone.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.request": {"filters": ["with_cause_only"]},
            # runserver's access line: the request line says it, with the duration and user.
            "django.server": {"handlers": ["null"], "propagate": False},
            # On by default: the one line per request and the security events are the log.
            REQUEST_LOGGER: {"level": "INFO"},
            "app.security": {"level": "INFO"},
        },
    }


# A client's X-Request-ID is taken as the correlation id only when it looks like one: it goes
# into every line of the request, so it may not smuggle a line break or a long string in.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def correlation_id(request: HttpRequest) -> str:
    """The id of a request outside Lambda: a sane ``X-Request-ID`` header, else a fresh one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    if _SANE_REQUEST_ID.fullmatch(given):
        return given
    return str(uuid.uuid4())


def request_log(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """One line per request, logged as it is answered: ``method``, ``path`` (never the query),
    ``status``, ``duration_ms``, ``client_address``, and ``user_id`` and ``session_id`` once
    something authenticated the caller; INFO, ERROR for a 5xx (counted in ``ServerErrors``).
    Outside Lambda it binds a ``correlation_id`` and, with ``DJANGO_METRICS=emf``, writes the
    request's metrics."""
    from django.conf import settings

    from app import metrics

    def middleware(request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        # On Lambda the entry point bound API Gateway's request id already.
        known = "correlation_id" in _fields.get()
        fields = {} if known else {"correlation_id": correlation_id(request)}
        batch = metrics.batch() if settings.METRICS == "emf" else contextlib.nullcontext()
        with scope(**fields), batch:
            response = get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            status = response.status_code
            if status >= 500:
                metrics.count(metrics.SERVER_ERRORS)
            method, path = request.method, request.path
            extra = {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client_address": request.META.get("REMOTE_ADDR", ""),
                **_caller(request),
                "_in_message": ("method", "path", "status", "duration_ms"),
            }
            request_logger.log(
                logging.ERROR if status >= 500 else logging.INFO,
                "%s %s %s %.1f ms",
                method,
                path,
                status,
                duration_ms,
                extra=extra,
            )
        return response

    return middleware


def _caller(request: HttpRequest) -> dict[str, Any]:
    # Django's request.user is lazy, and evaluating it reads the session (a query): read it
    # only when DRF replaced it (a bearer token's TokenUser) or something already evaluated
    # it (the admin). Only our session's id is logged, never Django's session key (a cookie).
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    caller = {"user_id": user.pk}
    session_id = getattr(user, "session_id", None)
    if session_id is not None:
        caller["session_id"] = str(session_id)
    return caller
