"""The targets of the function's scheduled events (``events`` in ``zappa_settings.json``)."""


def purge_expired(event, context):
    """The daily scheduled event (``zappa_settings.json``): ``manage.py purge_expired``."""
    from app.accounts import services

    return services.purge()
