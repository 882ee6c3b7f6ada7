"""Periodic signing jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from signatures.services import eligibility


@shared_task(name="signatures.purge_expired_email_codes")
def purge_expired_email_codes() -> int:
    """Delete email codes past their 15 minutes; returns how many."""
    return eligibility.email_codes_purge_expired()
