"""The websocket of a discussion channel: /ws/channels/<id>/.

Transport only: it parses frames, calls discussions.services and
discussions.selectors, and forwards the events that discussions.events
publishes. The protocol is documented in docs/channels-protocol.md. Bad frames
get an error frame (and, when the client has no business here, a close code);
nothing a client sends crashes it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core import text
from core.errors import AppError
from core.unavailable import REDIS_DOWN
from discussions import events, fanout, presence, selectors
from discussions import services as svc
from discussions.access import channel_access, current_access
from discussions.models import DiscussionChannel
from discussions.validation import ChannelError
from organizing.mfa import mark_session_assurance

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's).
CLOSE_BAD_CLIENT = 4400  # too many bad frames
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403  # not (or no longer) a member with a permitted role
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4000  # fell too far behind: reconnect and resync
CLOSE_UNAVAILABLE = 4503  # the channel layer (Redis) is unreachable: retry later

# Frames waiting for a slow client before it is disconnected.
MAX_OUTBOX = 1000

MAX_FRAME_CHARS = 128 * 1024
MAX_BAD_FRAMES = 50
# Token bucket for frames that write or query (per socket).
RATE_PER_SECOND = 20.0
RATE_BURST = 40.0
# Keep-alive and typing frames draw from a separate, smaller bucket, so that a
# busy conversation never starves them and a flood of them is refused too
# (each ping writes presence to Redis). The page sends a ping every 25 s and a
# typing frame at most every 2.5 s (static/js/channels.js): 0.44 a second.
LIGHT_FRAMES = ("typing", "ping")
LIGHT_RATE_PER_SECOND = 1.0
LIGHT_BURST = 10.0
TYPING_INTERVAL = 1.0
# Above this many people online, joins and leaves are not announced one by one
# (1,000 people reconnecting would mean a million frames); clients refresh the
# list with `who` instead.
PRESENCE_ANNOUNCE_MAX = 100


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; it starts full."""

    def __init__(self, rate: float, burst: float, now: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _unavailable_message() -> str:
    return _("Live discussion is unavailable for a moment. Try again in a minute.")


class ChannelConsumer(AsyncWebsocketConsumer):
    closing = False

    async def __call__(self, scope, receive, send):
        """Channels subscribes every socket to its own channel-layer channel
        before the handshake reaches connect(): with Redis unreachable, that
        fails before anything is accepted. Refuse such a socket with a
        close code and a message instead of a 500 and a traceback."""
        try:
            await super().__call__(scope, receive, send)
        except REDIS_DOWN as exc:
            if getattr(self, "base_send", None) is not None:
                raise  # after the handshake: connect() and receive() handle it
            logger.warning("Websocket refused, the channel layer is unreachable: %s", exc)
            self.base_send = send
            if (await receive())["type"] != "websocket.connect":
                return
            await self.accept()
            await self._refuse(CLOSE_UNAVAILABLE, "unavailable", _unavailable_message())

    async def _send_text(self, text: str):
        """Send unless the socket is closing: a client that went away in the
        middle of an action is not an error."""
        if self.closing:
            return
        try:
            await self.send(text_data=text)
        except (OSError, RuntimeError):
            self.closing = True

    async def close(self, code=None, reason=None):
        if self.closing:
            return
        self.closing = True
        try:
            await super().close(code=code, reason=reason)
        except (OSError, RuntimeError):
            pass

    async def connect(self):
        self.outbox = collections.deque()
        self.writer = None
        self.hub = None
        self.membership_id = None
        self.device_id = None
        self.ready = False
        self.bad_frames = 0
        now = time.monotonic()
        self.frame_tokens = TokenBucket(RATE_PER_SECOND, RATE_BURST, now)
        self.light_tokens = TokenBucket(LIGHT_RATE_PER_SECOND, LIGHT_BURST, now)
        self.typing_at = 0.0
        self.group = None
        await self.accept()
        try:
            channel_id = int(self.scope["url_route"]["kwargs"]["channel_id"])
            access = await database_sync_to_async(self._access_sync)(channel_id)
        except (DiscussionChannel.DoesNotExist, ValueError, OverflowError):
            await self._refuse(CLOSE_NOT_FOUND, "not_found", _("There is no such channel."))
            return
        except AppError as exc:  # NotPermitted or MFARequired (organizing.services)
            user = self.scope.get("user")
            if user is None or not user.is_authenticated:
                await self._refuse(CLOSE_UNAUTHENTICATED, "unauthenticated", _("Sign in first."))
            else:
                await self._refuse(CLOSE_FORBIDDEN, "forbidden", exc.message)
            return
        self.channel_id = access.channel.pk
        self.membership_id = access.membership.pk
        self.role = access.membership.role
        self.name = access.membership.display_name
        group = events.channel_group(self.channel_id)
        self.hub = fanout.hub_for(self.channel_layer)
        try:
            await self.hub.join(group, self)
            await self.channel_layer.group_add(
                events.membership_group(self.membership_id), self.channel_name
            )
        except REDIS_DOWN as exc:
            logger.warning("Websocket refused, the channel layer is unreachable: %s", exc)
            await self.hub.leave(group, self)
            await self._refuse(CLOSE_UNAVAILABLE, "unavailable", _unavailable_message())
            return
        self.group = group

    def _access_sync(self, channel_id: int):
        # Like organizing.mfa.AuthenticationMiddleware for HTTP: the
        # user carries what this socket's session proved (organizing.mfa).
        user = mark_session_assurance(self.scope.get("user"), self.scope.get("session") or {})
        return channel_access(user=user, channel_id=channel_id)

    async def _refuse(self, code: int, error: str, message: str):
        await self._error(error, message)
        await self.close(code=code)

    async def disconnect(self, code):
        if self.group is None:
            return
        self.closing = True
        await self.hub.leave(self.group, self)
        try:
            await self.channel_layer.group_discard(
                events.membership_group(self.membership_id), self.channel_name
            )
        except REDIS_DOWN:
            logger.warning("Could not leave a channel group: the channel layer is unreachable")
        if self.ready:
            try:
                await presence.remove(self.group, self.channel_name)
                online = await presence.members(self.group)
                if self.membership_id not in online and len(online) < PRESENCE_ANNOUNCE_MAX:
                    await self._publish(
                        {
                            "type": "presence",
                            "event": "leave",
                            "member": self.membership_id,
                            "name": self.name,
                        }
                    )
            except Exception:
                logger.exception("Could not update presence")

    # --- incoming frames ------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        # Frames still queued when the socket closes (a flood, say) are dropped.
        if self.group is None or self.closing:
            return
        ref = None
        try:
            if text_data is None:
                raise ChannelError(_("Frames are JSON text."), "bad_frame")
            if len(text_data) > MAX_FRAME_CHARS:
                raise ChannelError(_("The frame is too large."), "too_large")
            try:
                frame = json.loads(text_data)
            except ValueError:
                raise ChannelError(_("The frame is not JSON."), "bad_json")
            except RecursionError:
                # Arrays nested a thousand deep fit in a frame; the parser
                # gives up on them, and so does the frame.
                raise ChannelError(_("The frame is nested too deeply."), "bad_json")
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise ChannelError(_("A frame is an object with a type."), "bad_frame")
            try:
                text.refuse_unstorable_json(frame)
            except ValidationError as exc:
                raise ChannelError(exc.messages[0], "bad_field") from None
            ref = frame.get("ref") if isinstance(frame.get("ref"), (str, int)) else None
            kind = frame["type"]
            handler = self.HANDLERS.get(kind)
            if handler is None:
                raise ChannelError(_("Unknown frame type."), "unknown_type")
            if kind != "hello" and not self.ready:
                raise ChannelError(_("Send hello first."), "hello_first")
            bucket = self.light_tokens if kind in LIGHT_FRAMES else self.frame_tokens
            if not bucket.take(time.monotonic()):
                raise ChannelError(_("Too many frames; slow down."), "rate_limited")
            await handler(self, frame, ref)
        except AppError as exc:
            # The one place a frame's domain error is answered: a refusal of
            # access (403) ends the socket; bad input counts towards
            # MAX_BAD_FRAMES.
            if exc.status == 403:
                await self._error("forbidden", exc.message, ref)
                await self.close(code=CLOSE_FORBIDDEN)
            else:
                await self._bad(exc.code, exc.message, ref)
        except REDIS_DOWN as exc:
            # A write was committed before the failed publication, if any:
            # the others find it when they resync.
            logger.warning("Channel frame without the channel layer: %s", exc)
            await self._error("unavailable", _unavailable_message(), ref)
        except Exception:
            logger.exception("Channel frame failed")
            await self._error("server_error", _("Something went wrong; try again."), ref)

    async def _bad(self, code, message, ref=None):
        await self._error(code, message, ref)
        self.bad_frames += 1
        if self.bad_frames >= MAX_BAD_FRAMES:
            await self.close(code=CLOSE_BAD_CLIENT)

    async def _error(self, code, message, ref=None):
        frame = {"type": "error", "code": code, "message": message}
        if ref is not None:
            frame["ref"] = ref
        await self._send_text(json.dumps(frame))

    async def _reply(self, frame: dict, ref=None):
        if ref is not None:
            frame["ref"] = ref
        await self._send_text(json.dumps(frame))

    async def _publish(self, frame: dict, **extra):
        await events.publish(self.group, frame, **extra)

    # --- handlers -------------------------------------------------------------

    async def on_hello(self, frame, ref):
        if self.ready:
            raise ChannelError(_("Already said hello."), "bad_frame")
        device_key = frame.get("device_key")
        welcome, new_device = await database_sync_to_async(self._hello_sync)(device_key)
        self.ready = True
        await self._reply(welcome, ref)
        if new_device is not None:
            await self._publish({"type": "device", "device": new_device}, exclude=self.channel_name)
        # Presence is best effort: without Redis for a moment, chat goes on.
        online = {self.membership_id: self.name}
        try:
            await presence.add(
                self.group, self.channel_name, member=self.membership_id, name=self.name
            )
            online.update(await presence.members(self.group))
            if len(online) <= PRESENCE_ANNOUNCE_MAX:
                await self._publish(
                    {
                        "type": "presence",
                        "event": "join",
                        "member": self.membership_id,
                        "name": self.name,
                    },
                    exclude=self.channel_name,
                )
        except Exception:
            logger.warning("Presence unavailable", exc_info=True)
        await self._reply(self._presence_list(online))

    @staticmethod
    def _presence_list(online: dict, ref=None) -> dict:
        frame = {
            "type": "presence",
            "event": "list",
            "online": [{"member": m, "name": n} for m, n in sorted(online.items())],
        }
        if ref is not None:
            frame["ref"] = ref
        return frame

    async def on_who(self, frame, ref):
        try:
            online = await presence.members(self.group)
        except Exception:
            logger.warning("Presence unavailable", exc_info=True)
            online = {self.membership_id: self.name}
        await self._send_text(json.dumps(self._presence_list(online, ref)))

    def _hello_sync(self, device_key):
        access = current_access(membership_id=self.membership_id, channel_id=self.channel_id)
        device = None
        new_device = None
        if device_key is not None:
            before = set(access.membership.device_keys.values_list("pk", flat=True))
            device = svc.device_key_register(membership=access.membership, public_key=device_key)
            self.device_id = device.pk
            if device.pk not in before:
                new_device = selectors.device_dict(device, has_key=False)
        return selectors.welcome(access, device), new_device

    async def on_send(self, frame, ref):
        message = await database_sync_to_async(svc.message_post)(
            membership_id=self.membership_id,
            channel_id=self.channel_id,
            epoch=frame.get("epoch"),
            ciphertext=frame.get("ciphertext"),
            iv=frame.get("iv"),
        )
        await self._reply({"type": "sent", "message": message}, ref)

    async def on_edit(self, frame, ref):
        message = await database_sync_to_async(svc.message_edit)(
            membership_id=self.membership_id,
            channel_id=self.channel_id,
            message_id=frame.get("id"),
            epoch=frame.get("epoch"),
            ciphertext=frame.get("ciphertext"),
            iv=frame.get("iv"),
        )
        await self._reply({"type": "sent", "message": message}, ref)

    async def on_delete(self, frame, ref):
        message = await database_sync_to_async(svc.message_delete)(
            membership_id=self.membership_id, channel_id=self.channel_id, message_id=frame.get("id")
        )
        await self._reply({"type": "sent", "message": message}, ref)

    async def on_history(self, frame, ref):
        page = await database_sync_to_async(selectors.messages_history)(
            membership_id=self.membership_id,
            channel_id=self.channel_id,
            before_id=frame.get("before"),
        )
        await self._reply({"type": "history", **page}, ref)

    async def on_sync(self, frame, ref):
        page = await database_sync_to_async(selectors.messages_since)(
            membership_id=self.membership_id,
            channel_id=self.channel_id,
            after_seq=frame.get("after_seq"),
        )
        await self._reply({"type": "sync", **page}, ref)

    async def on_typing(self, frame, ref):
        now = time.monotonic()
        if now - self.typing_at < TYPING_INTERVAL:
            return
        self.typing_at = now
        await self._publish(
            {"type": "typing", "member": self.membership_id, "name": self.name},
            exclude=self.channel_name,
        )

    async def on_devices(self, frame, ref):
        await self._reply(await database_sync_to_async(self._devices_sync)(), ref)

    def _devices_sync(self):
        access = current_access(membership_id=self.membership_id, channel_id=self.channel_id)
        return selectors.devices_state(access)

    async def on_wrap(self, frame, ref):
        if self.device_id is None:
            raise ChannelError(_("Register this device's key first."), "no_device")
        stored = await database_sync_to_async(svc.keys_store)(
            membership_id=self.membership_id,
            channel_id=self.channel_id,
            device_id=self.device_id,
            epoch=frame.get("epoch"),
            wraps=frame.get("wraps"),
            claim=frame.get("claim") is True,
        )
        await self._reply(
            {"type": "wrapped", "epoch": frame.get("epoch"), "count": len(stored)}, ref
        )

    async def on_ping(self, frame, ref):
        try:
            await presence.add(
                self.group, self.channel_name, member=self.membership_id, name=self.name
            )
        except Exception:
            logger.warning("Presence unavailable", exc_info=True)
        await self._reply({"type": "pong"}, ref)

    HANDLERS = {
        "hello": on_hello,
        "send": on_send,
        "edit": on_edit,
        "delete": on_delete,
        "history": on_history,
        "sync": on_sync,
        "typing": on_typing,
        "devices": on_devices,
        "wrap": on_wrap,
        "ping": on_ping,
        "who": on_who,
    }

    # --- events from the channel layer -----------------------------------------

    def deliver(self, event):
        """Called by the process's fan-out hub for every event of this channel."""
        if not self.ready or self.closing:
            return  # before hello, the welcome's snapshot (or the client's sync) covers it
        kind = event["kind"]
        frame = event.get("frame") or {}
        if event.get("exclude") == self.channel_name:
            return
        if kind == "keys":
            mine = [w for w in frame["wraps"] if w["device"] == self.device_id]
            if mine:
                self._push(json.dumps({"type": "keys", "epoch": frame["epoch"], "wraps": mine}))
            return
        if kind == "channel" and self.role not in frame.get("allowed_roles", []):
            self.ready = False
            message = _("Your role may no longer join this channel.")
            asyncio.ensure_future(self._refuse(CLOSE_FORBIDDEN, "forbidden", message))
            return
        if kind == "rotate" and frame.get("removed_member") == self.membership_id:
            return  # member.removed closes this socket
        self._push(event["text"])

    def _push(self, text: str):
        """Queue a frame; this socket's own task writes it (a slow client only
        delays itself). Too far behind: disconnect; the client resyncs."""
        if len(self.outbox) >= MAX_OUTBOX:
            self.outbox.clear()
            self.ready = False
            asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))
            return
        self.outbox.append(text)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._drain())

    async def _drain(self):
        send = self.scope.get(fanout.DIRECT_SEND)
        if send is None:  # not behind config.asgi (e.g. a communicator test)
            while self.outbox and not self.closing:
                await self._send_text(self.outbox.popleft())
            return
        while self.outbox and not self.closing:
            try:
                await send({"type": "websocket.send", "text": self.outbox.popleft()})
            except (OSError, RuntimeError):  # the client went away
                self.closing = True

    async def member_removed(self, event):
        self.ready = False
        if event.get("reason") == "role":
            await self._error("forbidden", _("Your role may no longer join this channel."))
        elif event.get("reason") == "mfa":
            message = _("Your account no longer has a second factor; set one up to come back.")
            await self._error("forbidden", message)
        else:
            await self._error("removed", _("You are no longer a member of this campaign."))
        await self.close(code=CLOSE_FORBIDDEN)


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Every websocket path without a route (config.routing.no_route):
    the handshake is refused, which servers answer with HTTP 403, instead of
    the router raising (a 500 and a traceback)."""

    async def connect(self):
        await self.close()
