"""Celery tasks of organizing. Tasks take ids, re-fetch, and call a service."""

from celery import shared_task
from django.core.cache import cache


@shared_task(name="organizing.ping")
def ping(nonce: str) -> str:
    """Health check for the worker: leaves "pong" in the cache under
    `ping:<nonce>` for a minute, so a caller without a result backend can see
    that a worker really ran it (tests/organizing/test_production_run.py)."""
    cache.set(f"ping:{nonce[:64]}", "pong", 60)
    return "pong"
