"""Work that runs after the response: on Lambda in an asynchronous invocation of the function
itself (Zappa's ``zappa.asynchronous``), elsewhere in the request's own process.

A deferred function gets JSON-serialisable keyword arguments only, and must have a clean import
path (a module-level function): the invocation names it by that path. Both are checked in
either mode, so that what works in development cannot fail on Lambda for that alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)


def defer(function: Callable[..., object], **kwargs: str | int | None) -> None:
    """Run ``function(**kwargs)`` after the response (``TASKS_IN_BACKGROUND``), or now.

    A task that cannot be sent or fails (Lambda refusing the invocation, a mail server down,
    arguments no invocation could carry) is logged and changes nothing of the answer to the
    request that asked for it: the request's own writes are done, and its answer must not
    depend on whether a message went out.
    """
    try:
        _check_sendable(function, kwargs)
        if settings.TASKS_IN_BACKGROUND:
            # Zappa's module makes its AWS clients when imported: imported at the first task,
            # never on the cold path.
            from zappa.asynchronous import run

            # An "Event" invocation of this function: Lambda queues it and answers 202 at
            # once, and retries it twice if it fails.
            # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html
            run(function, kwargs=kwargs)
        else:
            function(**kwargs)
    except Exception:
        name = getattr(function, "__qualname__", repr(function))
        logger.exception("The task %s.%s failed", function.__module__, name)


def _check_sendable(function: Callable[..., object], kwargs: dict) -> None:
    # Zappa names the function by module and name, and its payload is JSON.
    name = getattr(function, "__qualname__", None)  # a test's stand-in may have none
    if name is not None and (name != function.__name__ or "<" in name):
        raise TypeError(f"{name} is not a module-level function: no invocation can name it")
    json.dumps(kwargs)  # TypeError for what JSON cannot carry
