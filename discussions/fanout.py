"""Per-process fan-out of channel events to the local websockets.

Instead of one channel-layer subscription (a queue, a task, a deserialization
and a dispatch) per socket, each server process joins every channel group it
has sockets for with ONE channel-layer channel, and hands each event's
pre-serialized text to its local sockets directly. Each socket keeps a small
outbox written by its own task, so a slow client never holds up the others;
a client that falls too far behind is disconnected and resyncs.

Measured in docs/benchmarks.md (bench/channels_fanout.py).
"""

from __future__ import annotations

import asyncio
import logging
import weakref

logger = logging.getLogger(__name__)

_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.members: dict[str, set] = {}
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def join(self, group: str, consumer) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel("fanout.")
                self.task = asyncio.ensure_future(self._run())
            local = self.members.setdefault(group, set())
            if not local:
                await self.layer.group_add(group, self.channel)
            local.add(consumer)

    async def leave(self, group: str, consumer) -> None:
        async with self.lock:
            local = self.members.get(group)
            if local is None:
                return
            local.discard(consumer)
            if not local:
                del self.members[group]
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:
                    logger.warning("Could not leave a channel group", exc_info=True)

    async def _run(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Channel fan-out could not receive")
                await asyncio.sleep(0.5)
                continue
            for consumer in tuple(self.members.get(event.get("group"), ())):
                try:
                    consumer.deliver(event)
                except Exception:
                    logger.exception("Channel fan-out could not deliver")


# The ASGI server's own `send` for the socket, kept in the scope by
# DirectSendMiddleware (config/asgi.py). Fan-out frames go straight to it:
# the middlewares between it and the consumer (channels' session wrapper, which
# only acts on http.response.start) would otherwise run once per socket and
# frame, about a fifth of a server's CPU time with 1,000 members.
DIRECT_SEND = "organizing.direct_send"


class DirectSendMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = {**scope, DIRECT_SEND: send}
        return await self.app(scope, receive, send)


def hub_for(layer) -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = Hub(layer)
        _hubs[loop] = hub
    return hub
