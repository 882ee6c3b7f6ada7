"""Per-client rate limits: fixed-window counters in the Django cache (Redis
in production), keyed by a scope and the client's keyed hash."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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
    # scope: (requests, seconds) per client key. A signing table at a union
    # meeting is one client key (one Wi-Fi, one address) for a room of
    # people: 200 in an hour must get through, so what the signing
    # endpoints count is what guessing needs, refusals, not what a room
    # needs, successes (rate_limit_failures; docs/signing-protocol.md).
    # Work-email codes sent: each one is an email to a work address.
    "email_code": (30, 900),
    # Refused token requests with an email code or an account (a wrong or
    # expired code, ...); each email code also allows only five attempts.
    "token": (20, 900),
    # Refused token requests with an invite code: wrong guesses. A code has
    # 80 random bits, so 30 guesses per 15 minutes find none in a lifetime,
    # and a room's typos (confusable letters are already mapped) fit.
    "invite_code": (30, 900),
    # Refused signature submissions (api.signatures counts failures only).
    "signature": (30, 60),
    "receipt": (30, 60),
    # Reports of a signature's public text (no account): enough for a room
    # that reports one comment together, not for flooding the queue. Kept
    # in the cache only, like every counter here: the report itself stores
    # nothing of who sent it.
    "report": (20, 3600),
    # The public verification page: uploads are hashed and checked with gpg.
    "verify": (20, 60),
}


# Scopes whose limit is skipped while the cache (Redis) is unreachable,
# because what it protects rests on the database and on secrets too long to
# guess; an attacker gains only more requests, each a few indexed queries:
# - token and invite_code: a token needs an invite code (80 random bits, one issuance per
#   code: a unique row) or an email code (five attempts per code, claimed by
#   a conditional UPDATE; new codes cannot be sent without Redis) or a
#   signed-in account; the blind signature is made only after the issuance
#   row is recorded;
# - signature: a token's RSA signature cannot be forged, and its hash is
#   unique per letter; a failed submission costs one 0.04 ms verification;
# - receipt: a receipt is 256 random bits, looked up by its hash.
# Every other scope fails closed (503): "email_code" sends mail to any
# address typed, "verify" hashes uploads of up to 200 MB and checks them,
# "report" writes a row to the organizers' queue for each request.
RATE_LIMITS_SKIPPED_WITHOUT_REDIS = {"token", "invite_code", "signature", "receipt"}


def rate_limit(scope: str, key: str) -> None:
    """Fixed-window counter in the Django cache; raises RateLimited.

    Limits come from settings.SIGNATURES_RATE_LIMITS (same shape as
    DEFAULT_RATE_LIMITS); None disables a scope (benchmarks). With the cache
    unreachable, a scope in RATE_LIMITS_SKIPPED_WITHOUT_REDIS lets the
    request through; the others raise the connection error (a 503).
    """
    _count(scope, key)


@contextmanager
def rate_limit_failures(scope: str, key: str) -> Iterator[None]:
    """Limit the failures of the block, not its successes.

    The request is counted before the block runs, so a client past the limit
    is refused (RateLimited) before its attempt is even checked: a guess past
    the limit is never tried. The count is taken back when the block ends
    without an exception, so successes never add up: many people behind one
    address can each succeed, while one client's refusals are limited.
    """
    counter = _count(scope, key)
    yield
    if counter is not None:
        _uncount(counter)


def _count(scope: str, key: str) -> str | None:
    """Count one request; raise RateLimited past the limit. Returns the
    counter's cache key, None when the scope is not counted (disabled, or
    skipped while the cache is unreachable)."""
    limits = {**DEFAULT_RATE_LIMITS, **getattr(settings, "SIGNATURES_RATE_LIMITS", {})}
    limit = limits.get(scope)
    if limit is None:
        return None
    count, window = limit
    bucket = int(timezone.now().timestamp()) // window
    counter = f"sig-rl:{scope}:{key}:{bucket}"
    try:
        used = _window_count(counter, window + 5)
    except REDIS_DOWN:
        if scope not in RATE_LIMITS_SKIPPED_WITHOUT_REDIS:
            raise
        logger.warning("Rate limit %r skipped: the cache is unreachable", scope)
        return None
    if used > count:
        raise RateLimited(_("Too many requests. Please wait a few minutes and try again."))
    return counter


# INCR, and set the expiry on the first count: atomic, one command, one reply.
_WINDOW_COUNT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
# DECR only a counter that still exists: one that expired meanwhile must not
# come back as -1 without an expiry.
_WINDOW_UNCOUNT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""
_window_scripts: WeakKeyDictionary = WeakKeyDictionary()
_uncount_scripts: WeakKeyDictionary = WeakKeyDictionary()


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


def _uncount(cache_key: str) -> None:
    """Take back one count of a fixed-window counter (one round trip on
    Redis). With the cache unreachable the count stays: it only makes the
    limit a little stricter until the window ends."""
    backend = caches["default"]
    try:
        client = redis_client()
        if client is not None:
            script = _uncount_scripts.get(client)
            if script is None:
                script = _uncount_scripts[client] = client.register_script(_WINDOW_UNCOUNT_LUA)
            script(keys=[backend.make_and_validate_key(cache_key)])
            return
        try:
            backend.decr(cache_key)
        except ValueError:  # the window ended meanwhile
            pass
    except REDIS_DOWN:
        logger.warning("Rate-limit count not taken back: the cache is unreachable")
