"""The signing rate limit's fixed-window counter, on Redis and in memory."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from core.ratelimit import (
    DEFAULT_RATE_LIMITS,
    RateLimited,
    _uncount,
    _window_count,
    rate_limit,
    rate_limit_failures,
)
from core.redis import redis_client


@pytest.mark.redis
def test_redis_counter_counts_and_expires_with_its_window():
    backend = caches["default"]
    client = backend._cache.get_client(write=True)
    key = backend.make_and_validate_key("sig-rl:test:counter")
    client.delete(key)
    assert [_window_count("sig-rl:test:counter", 65) for _ in range(3)] == [1, 2, 3]
    assert 60 < client.ttl(key) <= 65
    # Django's cache API reads the same counter.
    assert backend.get("sig-rl:test:counter") == 3


@pytest.mark.redis
def test_redis_counter_takes_one_round_trip(monkeypatch):
    client = redis_client()
    assert client is redis_client()  # one client per cache backend
    _window_count("sig-rl:test:round-trips", 30)  # loads the Lua script once
    sent = []
    pool = client.connection_pool
    original = pool.get_connection

    def get_connection(*args, **kwargs):
        connection = original(*args, **kwargs)
        send = connection.send_packed_command

        def record(command, *rest, **kw):
            sent.append(command)
            return send(command, *rest, **kw)

        monkeypatch.setattr(connection, "send_packed_command", record)
        return connection

    monkeypatch.setattr(pool, "get_connection", get_connection)
    _window_count("sig-rl:test:round-trips", 30)
    assert len(sent) == 1


def test_no_redis_client_without_redis(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert redis_client() is None


def test_in_memory_counter(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert [_window_count("sig-rl:test:mem", 30) for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize("backend", ["configured", "memory"])
def test_rate_limit_raises_past_the_limit(settings, backend):
    if backend == "memory":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.SIGNATURES_RATE_LIMITS = {"token": (3, 900), "signature": None}
    for _ in range(3):
        rate_limit("token", "client-a")
    with pytest.raises(RateLimited):
        rate_limit("token", "client-a")
    rate_limit("token", "client-b")  # per client key
    for _ in range(10):
        rate_limit("signature", "client-a")  # None disables a scope
    assert DEFAULT_RATE_LIMITS["token"] == (20, 900)


@pytest.mark.parametrize("backend", ["configured", "memory"])
def test_only_failures_add_up(settings, backend):
    if backend == "memory":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.SIGNATURES_RATE_LIMITS = {"invite_code": (2, 900)}
    for _ in range(50):
        with rate_limit_failures("invite_code", "room"):
            pass  # a success: the count is taken back
    for _ in range(2):
        with pytest.raises(ValueError), rate_limit_failures("invite_code", "room"):
            raise ValueError("a wrong code")
    ran = []
    with pytest.raises(RateLimited), rate_limit_failures("invite_code", "room"):
        ran.append(True)
    assert ran == []  # past the limit the block does not run at all
    with rate_limit_failures("invite_code", "another-client"):
        ran.append(True)
    assert ran == [True]


@pytest.mark.redis
def test_taking_back_a_count_never_revives_an_expired_counter():
    backend = caches["default"]
    client = redis_client()
    key = backend.make_and_validate_key("sig-rl:test:uncount")
    client.delete(key)
    _uncount("sig-rl:test:uncount")  # its window ended: nothing to take back
    assert client.exists(key) == 0
    _window_count("sig-rl:test:uncount", 60)
    _window_count("sig-rl:test:uncount", 60)
    _uncount("sig-rl:test:uncount")
    assert backend.get("sig-rl:test:uncount") == 1
    assert 50 < client.ttl(key) <= 60
