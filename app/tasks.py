"""Work that runs after the response: on Lambda in an asynchronous invocation of the function
itself (Zappa's ``zappa.asynchronous``), elsewhere in the request's own process.

A deferred function gets JSON-serialisable keyword arguments only, and must have a clean import
path (a module-level function): the invocation names it by that path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings

logger = logging.getLogger(__name__)


def defer(function: Callable[..., object], **kwargs: str | int | None) -> None:
    """Run ``function(**kwargs)`` after the response (``TASKS_IN_BACKGROUND``), or now.

    Zappa's module makes its AWS clients when imported, so it is imported here, when the first
    task is sent, never on the cold path.
    """
    if not settings.TASKS_IN_BACKGROUND:
        try:
            function(**kwargs)
        except Exception:
            # As in the background: a task that fails (a mail server down) is logged and
            # changes nothing of the answer to the request that asked for it.
            logger.exception("The task %s failed", function.__qualname__)
        return
    from zappa.asynchronous import run

    # An "Event" invocation: Lambda queues it and answers at once (no wait for the work).
    run(function, kwargs=kwargs)
