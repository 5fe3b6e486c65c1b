"""WSGI entry point for ``runserver`` and gunicorn; on Lambda, ``app/aws/lambda_function.py``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

application = get_wsgi_application()
