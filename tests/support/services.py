"""Services that are not there: a free port, a Redis nobody listens on, and
what the site answers meanwhile."""

from __future__ import annotations

import os
import socket

import pytest

from config.settings import redis_caches, redis_channel_layers

# CI sets REQUIRE_SERVICES=1: a test that needs PostgreSQL, Redis or a tool
# must then run, not skip.
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but this test would be skipped: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_redis(settings) -> str:
    """Point the cache, the channel layer and presence at a Redis address
    where nothing listens (a port just freed), with the production
    configuration's options; returns the address."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = redis_caches(url)
    settings.CHANNEL_LAYERS = redis_channel_layers(url)
    return url


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.content[:500]
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "no-store"
    # The site's own layout, under the site's security headers.
    body = response.content.decode()
    assert "<main" in body and "Unavailable for a moment" in body
    assert "<script" not in body and "style=" not in body
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
