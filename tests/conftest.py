"""Which tests a run takes, and a database check before any of them.

``--suite fast`` (the default: every unit and API test), ``--suite all`` (with the race loops
and the live-process tests marked ``slow``) or ``--suite system`` (the checks against live
servers). ``-m`` narrows any suite further and never widens or replaces it.
"""

from __future__ import annotations

import pytest

SUITES = ("fast", "all", "system")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite",
        choices=SUITES,
        default="fast",
        help="fast (default): unit and API tests; all: also the slow races; system: live servers",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what the suite leaves out (pytest reports them as deselected)."""
    suite = config.getoption("suite")
    kept, dropped = [], []
    for item in items:
        system = item.get_closest_marker("system") is not None
        slow = item.get_closest_marker("slow") is not None
        wanted = system if suite == "system" else not system and (suite == "all" or not slow)
        (kept if wanted else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, in one line, when the suite's PostgreSQL does not answer (rather than
    one traceback per test)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg2

    try:
        psycopg2.connect(
            host=database["HOST"],
            port=database["PORT"] or 5432,
            user=database["USER"],
            password=database["PASSWORD"],
            dbname=database["NAME"],
            connect_timeout=5,
        ).close()
    except psycopg2.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        pytest.exit(
            f"the test database does not answer ({database['HOST']}:{database['PORT']}): "
            f"{reason}; check DATABASE_URL",
            returncode=3,
        )
