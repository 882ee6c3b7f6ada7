"""WSGI entry point: ordinary HTTP under gunicorn (sync workers)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "organizing.settings")

application = get_wsgi_application()
