"""Per-client rate limits: fixed-window counters in the Django cache (Redis
in production), keyed by a scope and the client's keyed hash."""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import AppError
from core.redis import redis_client
from core.unavailable import REDIS_DOWN

logger = logging.getLogger(__name__)


class RateLimited(AppError):
    status, code = 429, "rate_limited"


DEFAULT_RATE_LIMITS = {
    # scope: (requests, seconds) per client key
    "email_code": (5, 900),
    "token": (20, 900),
    "signature": (30, 60),
    "receipt": (30, 60),
    # The public verification page: uploads are hashed and checked with gpg.
    "verify": (20, 60),
}


# Scopes whose limit is skipped while the cache (Redis) is unreachable,
# because what it protects rests on the database and on secrets too long to
# guess; an attacker gains only more requests, each a few indexed queries:
# - token: a token needs an invite code (80 random bits, one issuance per
#   code: a unique row) or an email code (five attempts per code, claimed by
#   a conditional UPDATE; new codes cannot be sent without Redis) or a
#   signed-in account; the blind signature is made only after the issuance
#   row is recorded;
# - signature: a token's RSA signature cannot be forged, and its hash is
#   unique per letter; a failed submission costs one 0.04 ms verification;
# - receipt: a receipt is 256 random bits, looked up by its hash.
# Every other scope fails closed (503): "email_code" sends mail to any
# address typed, "verify" hashes uploads of up to 200 MB and checks them.
RATE_LIMITS_SKIPPED_WITHOUT_REDIS = {"token", "signature", "receipt"}


def rate_limit(scope: str, key: str) -> None:
    """Fixed-window counter in the Django cache; raises RateLimited.

    Limits come from settings.SIGNATURES_RATE_LIMITS (same shape as
    DEFAULT_RATE_LIMITS); None disables a scope (benchmarks). With the cache
    unreachable, a scope in RATE_LIMITS_SKIPPED_WITHOUT_REDIS lets the
    request through; the others raise the connection error (a 503).
    """
    limits = {**DEFAULT_RATE_LIMITS, **getattr(settings, "SIGNATURES_RATE_LIMITS", {})}
    limit = limits.get(scope)
    if limit is None:
        return
    count, window = limit
    bucket = int(timezone.now().timestamp()) // window
    try:
        used = _window_count(f"sig-rl:{scope}:{key}:{bucket}", window + 5)
    except REDIS_DOWN:
        if scope not in RATE_LIMITS_SKIPPED_WITHOUT_REDIS:
            raise
        logger.warning("Rate limit %r skipped: the cache is unreachable", scope)
        return
    if used > count:
        raise RateLimited(_("Too many requests. Please wait a few minutes and try again."))


# INCR, and set the expiry on the first count: atomic, one command, one reply.
_WINDOW_COUNT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_window_scripts: WeakKeyDictionary = WeakKeyDictionary()


def _window_count(cache_key: str, ttl: int) -> int:
    """Count one more request in a fixed-window counter; returns the count.

    On Redis this is one round trip (a Lua script: INCR, then EXPIRE on the
    first count): the signing endpoints run it on every request
    (bench/signing.py), and Django's add() + incr() take three round trips
    (incr checks EXISTS first).
    """
    backend = caches["default"]
    client = redis_client()
    if client is not None:
        script = _window_scripts.get(client)
        if script is None:
            script = _window_scripts[client] = client.register_script(_WINDOW_COUNT_LUA)
        return int(script(keys=[backend.make_and_validate_key(cache_key)], args=[ttl]))
    backend.add(cache_key, 0, ttl)
    try:
        return backend.incr(cache_key)
    except ValueError:  # expired between add and incr
        backend.set(cache_key, 1, ttl)
        return 1
