"""The Celery application. Tasks take ids, re-fetch, and call a service."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from core.logging import ScrubIPAddressesFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("organizing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

scrub_filter = ScrubIPAddressesFilter()


@after_setup_logger.connect
@after_setup_task_logger.connect
def scrub_addresses_from_celery_logs(logger, **kwargs):
    """Celery workers replace the root logger's handlers (Django's, with the
    filter) with their own: give those the filter too, since a malformed
    message or a failing task can put an address in a log line."""
    for handler in logger.handlers:
        handler.addFilter(scrub_filter)
