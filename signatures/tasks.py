"""Periodic signing jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from signatures.services import batches, eligibility


@shared_task(name="signatures.purge_expired_email_codes")
def purge_expired_email_codes() -> int:
    """Delete email codes past their 15 minutes; returns how many."""
    return eligibility.email_codes_purge_expired()


@shared_task(name="signatures.seal_batches")
def seal_batches() -> int:
    """Seal every letter's due batch (every minute); returns how many."""
    return len(batches.batches_seal_due())
