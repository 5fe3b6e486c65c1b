"""Lambda's init phase and SnapStart: what is loaded before the first request, and what must
differ between restored copies."""

import random

from django.db import connections


def prepare_for_requests() -> None:
    """Import and build, before the first request, everything a request would otherwise load:
    the URLconf with every view and its compiled patterns, DRF's settings, the password
    hashers and their library, the access tokens' keys, what the middleware loads per
    request, the codec of the log line of an error answer, the database backend. Opens no
    connection."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hasher
    from django.urls import get_resolver
    from django.utils.module_loading import import_string
    from rest_framework.settings import api_settings

    resolver = get_resolver()
    # Imports app.urls, the views and the admin, and compiles every pattern's regular
    # expression, which Django otherwise does on the first request that tries it.
    resolver.reverse_dict  # noqa: B018
    for name in (
        "DEFAULT_RENDERER_CLASSES",
        "DEFAULT_PARSER_CLASSES",
        "DEFAULT_AUTHENTICATION_CLASSES",
        "DEFAULT_PERMISSION_CLASSES",
        "EXCEPTION_HANDLER",
    ):
        getattr(api_settings, name)
    # The library of the hasher every login and new password uses (Argon2's bindings), which
    # it imports on its first hash. Others only verify old hashes, and may not be installed.
    hasher = get_hasher()
    if hasher.library:
        hasher._load_library()
    # The message storage and the session serializer, which the middleware imports by name
    # on every request's first use.
    import_string(settings.MESSAGE_STORAGE)
    import_string(settings.SESSION_SERIALIZER)
    # The access tokens' keys, parsed (the settings' check did it; this names the need): a
    # login signs with one, every authenticated request checks with one.
    from app.accounts import tokens

    tokens.verifying_keys()
    # The codec Django's log line of every 4xx and 5xx escapes the path with
    # (django.utils.log.log_response), which Python imports on its first use.
    "".encode("unicode_escape")
    connections["default"]


def before_snapshot() -> None:
    """SnapStart: no database connection may be in the snapshot (every copy would share it)."""
    connections.close_all()


def after_restore() -> None:
    """SnapStart: what must differ between restored copies. ``random`` would replay the same
    numbers in each; tokens and UUIDs come from ``os.urandom`` and differ already."""
    random.seed()
    connections.close_all()


def register_snapshot_hooks() -> None:
    """Register the hooks with the Lambda runtime's ``snapshot_restore_py`` where it exists."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
