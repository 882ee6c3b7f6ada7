"""Read back everything in the cache, whichever backend the settings chose."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def cache_entries() -> list[tuple[str, str]]:
    """(key, value) for every cache entry: the local-memory cache, or every key
    of the Redis database (raw bytes, whatever wrote them)."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            return [
                (key.decode("latin-1"), (client.dump(key) or b"").decode("latin-1"))
                for key in client.scan_iter(count=1000)
            ]
        finally:
            client.close()
    entries = []
    for key in list(getattr(cache, "_cache", {})):
        raw_key = key.split(":", 2)[2]
        entries.append((key, repr(cache.get(raw_key))))
    return entries
