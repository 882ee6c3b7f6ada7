"""Who is connected to a channel, shared by every ASGI process.

With REDIS_URL: one Redis hash per channel group (field: the socket's channel
name, value: membership id, pseudonym and a heartbeat time); entries whose
heartbeat is older than STALE_SECONDS (a crashed process) are ignored and
pruned. Without Redis (the embedded mode runs one process): a dict.

Nothing here is written to the database; it holds no address.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

STALE_SECONDS = 90
KEY_TTL_SECONDS = 24 * 3600

_local: dict[str, dict[str, dict]] = {}
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis():
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # Reconnect transparently after a Redis restart.
        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
            retry_on_error=[ConnectionError, TimeoutError],
            socket_connect_timeout=2,
            socket_timeout=5,
        )
        _clients[loop] = client
    return client


def _key(group: str) -> str:
    return f"org:pres:{group}"


async def add(group: str, conn: str, *, member: int, name: str) -> None:
    entry = {"m": member, "n": name, "t": time.time()}
    if settings.REDIS_URL:
        client = _redis()
        await client.hset(_key(group), conn, json.dumps(entry))
        await client.expire(_key(group), KEY_TTL_SECONDS)
    else:
        _local.setdefault(group, {})[conn] = entry


async def remove(group: str, conn: str) -> None:
    if settings.REDIS_URL:
        await _redis().hdel(_key(group), conn)
    else:
        _local.get(group, {}).pop(conn, None)


async def members(group: str) -> dict[int, str]:
    """Membership id -> pseudonym of everyone connected."""
    now = time.time()
    if settings.REDIS_URL:
        client = _redis()
        raw = await client.hgetall(_key(group))
        entries = {k.decode(): json.loads(v) for k, v in raw.items()}
        stale = [k for k, e in entries.items() if now - e["t"] > STALE_SECONDS]
        if stale:
            await client.hdel(_key(group), *stale)
    else:
        entries = dict(_local.get(group, {}))
        stale = [k for k, e in entries.items() if now - e["t"] > STALE_SECONDS]
        for k in stale:
            _local[group].pop(k, None)
    return {e["m"]: e["n"] for k, e in entries.items() if k not in stale}
