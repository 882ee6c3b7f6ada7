"""Celery task of the petition export: takes an id, calls the service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from petitions import services


@shared_task(
    name="signatures.export.render",  # services.RENDER_TASK
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def render_export(export_id: str) -> str:
    return services.export_render(export_id)
