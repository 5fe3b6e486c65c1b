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

    A task that cannot be sent or fails (Lambda refusing the invocation, a mail server down) is
    logged and changes nothing of the answer to the request that asked for it: the request's
    own writes are done, and its answer must not depend on whether a message went out.
    """
    try:
        if settings.TASKS_IN_BACKGROUND:
            # Zappa's module makes its AWS clients when imported: imported at the first task,
            # never on the cold path.
            from zappa.asynchronous import run

            # An "Event" invocation: Lambda queues it and answers at once.
            run(function, kwargs=kwargs)
        else:
            function(**kwargs)
    except Exception:
        logger.exception("The task %s.%s failed", function.__module__, function.__qualname__)
