"""Periodic letter jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from letters import services


@shared_task(name="letters.tasks.close_expired_letters")
def close_expired_letters() -> int:
    """Close open letters whose deadline has passed; returns how many."""
    return services.letter_close_expired()
