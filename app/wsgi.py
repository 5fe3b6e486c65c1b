"""WSGI entry point: ``runserver`` in development, Zappa's handler on Lambda."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

application = get_wsgi_application()
