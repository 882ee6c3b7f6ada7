"""The one door to real time: every event for the channels' websockets
leaves through `send()`.

Services call `emit` (a frame for everyone in a channel) and `emit_member`
(for every socket of one membership) inside their transaction; the event
leaves once the transaction commits, never for a change that was rolled
back. The consumer calls `publish` for what is never stored (presence,
typing, a new device), which leaves at once.

Groups are named by keyed hashes, so Redis (and whoever watches it) sees no
channel or campaign ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils.encoding import force_bytes

logger = logging.getLogger(__name__)

# --- group names ---------------------------------------------------------------


def _opaque(kind: str, ident: int) -> str:
    key = force_bytes(settings.SECRET_KEY + "organizing.channel-groups")
    digest = hmac.new(key, force_bytes(f"{kind}:{ident}"), hashlib.sha256).hexdigest()
    return f"{kind[0]}.{digest[:40]}"


def channel_group(channel_id: int) -> str:
    """The channel-layer group of a channel: a keyed hash, so Redis (and
    whoever watches it) sees no channel or campaign ids."""
    return _opaque("chan", channel_id)


def membership_group(membership_id: int) -> str:
    """The group of every socket of one membership (used to disconnect it)."""
    return _opaque("memb", membership_id)


# --- events -----------------------------------------------------------------------

# Frames the consumer must look into before forwarding; the others travel as
# text only (the fan-out to every socket then just forwards one string).
INSPECTED = {"keys", "channel", "rotate"}


def channel_event(frame: dict, *, group: str, **extra) -> dict:
    """The channel-layer event for `frame` (see discussions.fanout).

    The frame is serialized once here; every consumer forwards the same text.
    """
    event = {
        "type": "chan.event",
        "group": group,
        "kind": frame["type"],
        "text": json.dumps(frame),
        **extra,
    }
    if frame["type"] in INSPECTED:
        event["frame"] = frame
    return event


async def send(group: str, event: dict) -> None:
    """Hand `event` to the channel layer: the only place events leave."""
    layer = get_channel_layer()
    if layer is None:
        return
    await layer.group_send(group, event)


def emit(group: str, frame: dict, **extra) -> None:
    """Publish `frame` to `group` once the current transaction commits."""
    transaction.on_commit(
        lambda: _send_now(group, channel_event(frame, group=group, **extra)), robust=True
    )


def emit_member(membership_id: int, event_type: str, **fields) -> None:
    """Send an event to every socket of one membership once the current
    transaction commits (e.g. `member.removed`, which closes them)."""
    event = {"type": event_type, **fields}
    transaction.on_commit(lambda: _send_now(membership_group(membership_id), event), robust=True)


async def publish(group: str, frame: dict, **extra) -> None:
    """Publish `frame` to `group` now, from the consumer's event loop (for what
    is never stored: presence, typing, a newly registered device)."""
    await send(group, channel_event(frame, group=group, **extra))


def _send_now(group: str, event: dict) -> None:
    # Called from a consumer's database thread: hand the publication to the
    # server's event loop without waiting for it, so the database thread is
    # free for the next action (publications keep their order: the loop runs
    # them first in, first out).
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(send(group, event), loop)
        future.add_done_callback(_log_failure)
        return
    try:
        async_to_sync(send)(group, event)
    except Exception:
        # The change is stored; clients find it when they resync.
        logger.exception("Could not publish a channel event")


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("Could not publish a channel event", exc_info=future.exception())
