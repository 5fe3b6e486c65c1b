#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A configuration mistake (a missing key, a bad ``DATABASE_URL``) or a database that does not
answer ends in one line and exit status 1; ``--traceback`` or debug on shows the traceback.
"""

import os
import sys


def main() -> None:
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except (ImproperlyConfigured, OperationalError) as error:
        debug = os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}
        if "--traceback" in sys.argv or debug:
            raise
        what = "configuration" if isinstance(error, ImproperlyConfigured) else "database"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        sys.exit(f"manage.py: {what} error: {reason} (--traceback shows where)")


if __name__ == "__main__":
    main()
