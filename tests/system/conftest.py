"""The system tests: the API served as in production on 127.0.0.1, checked from outside.

Selected with ``-m system`` (``scripts/test --system``); the fast suite leaves them out.
"""

import pytest

from devtools.live_server import LiveServer


@pytest.fixture
def api_server(request):
    """A gunicorn server on a fresh PostgreSQL database; settings from the ``live`` marker.

    ``@pytest.mark.live(workers=4, REGISTER_THROTTLE_PER_ADDRESS="50")`` sets its worker count
    and environment variables.
    """
    marker = request.node.get_closest_marker("live")
    options = dict(marker.kwargs) if marker else {}
    with LiveServer(request.node.name.removeprefix("test_")[:40], **options) as server:
        yield server
