"""Celery tasks of the discussion channels. Tasks take ids, re-fetch, and call a service."""

from celery import shared_task

from discussions.services import messages_delete_expired


@shared_task(name="organizing.delete_expired_messages")
def delete_expired_messages() -> int:
    """Periodic (CELERY_BEAT_SCHEDULE): delete channel messages older than
    their channel's retention; connected clients are told to drop them."""
    return messages_delete_expired()
