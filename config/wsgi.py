"""WSGI entry point: ordinary HTTP under gunicorn (sync workers)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Everything imported so far lives as long as the worker: keep it out of the
# cyclic garbage collector's full passes, which otherwise walk every module,
# model and URL pattern (as in config/asgi.py).
gc.freeze()
