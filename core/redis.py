"""The default cache's Redis client, shared by the code that talks to Redis
directly (the rate-limit counter, dropping cached figures)."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

_redis_clients: WeakKeyDictionary = WeakKeyDictionary()


def redis_client():
    """The default cache's redis client, or None if the cache is not Redis.

    Django's Redis cache builds a new redis.Redis for every call, and redis-py
    fills a table of ~170 response callbacks in each constructor: 0.17 ms of
    CPU, more than the round trip. The signing endpoints, which touch Redis on
    every request, reuse one client per cache backend instead (thread-safe;
    it shares the backend's connection pool).
    """
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = _redis_clients.get(backend)
    if client is None:
        client = _redis_clients[backend] = backend._cache.get_client(write=True)
    return client
