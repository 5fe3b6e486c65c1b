"""Counters in CloudWatch's Embedded Metric Format (EMF): one JSON line on stdout per batch,
which CloudWatch Logs turns into metrics; no AWS call, no SDK.

``count(NAME)`` adds to the current batch; ``batch()`` opens one (the Lambda entry point, per
invocation; the request-log middleware, per request, with ``DJANGO_METRICS=emf`` outside
Lambda) and writes its line at its end, none when nothing was counted. Outside a batch a count
is dropped. Every metric has the one dimension ``service``.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator

LOGIN_SUCCEEDED = "LoginSucceeded"
LOGIN_FAILED = "LoginFailed"
LOGIN_THROTTLED = "LoginThrottled"
REFRESHES = "Refreshes"
REFRESH_TOKEN_REUSED = "RefreshTokenReused"
THROTTLED = "Throttled"
SERVER_ERRORS = "ServerErrors"
COLD_START = "ColdStart"

# The specification's limit: at most 100 metrics in one directive (more go in the next).
METRICS_PER_DIRECTIVE = 100
DIMENSION = "service"

_batch: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "metrics_batch", default=None
)


def count(name: str, value: int = 1) -> None:
    """Add ``value`` to the metric ``name`` in the current batch; nothing outside one."""
    counts = _batch.get()
    if counts is not None:
        counts[name] += value


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Collect counts until the block ends, then write them as one EMF line. Inside another
    batch it adds to that one (one line per invocation, whoever else opens one)."""
    if _batch.get() is not None:
        yield
        return
    counts: Counter[str] = Counter()
    token = _batch.set(counts)
    try:
        yield
    finally:
        _batch.reset(token)
        if counts:
            print(json.dumps(emf_document(counts)), file=sys.stdout, flush=True)


def emf_document(counts: dict[str, int]) -> dict:
    """The EMF object of ``counts``: the ``_aws`` metadata declaring each as a Count with the
    ``service`` dimension, the service, and each metric's value as a key of its own."""
    from django.conf import settings

    names = sorted(counts)
    directives = [
        {
            "Namespace": settings.METRICS_NAMESPACE,
            "Dimensions": [[DIMENSION]],
            "Metrics": [{"Name": name, "Unit": "Count"} for name in chunk],
        }
        for chunk in (
            names[start : start + METRICS_PER_DIRECTIVE]
            for start in range(0, len(names), METRICS_PER_DIRECTIVE)
        )
    ]
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives},
        DIMENSION: settings.SERVICE_NAME,
        **{name: counts[name] for name in names},
    }
