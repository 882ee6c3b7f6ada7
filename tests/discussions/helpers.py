"""Helpers for the discussion-channel tests (not tests themselves)."""

from __future__ import annotations

import base64
import os

from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import AnonymousUser

from discussions.routing import websocket_urlpatterns
from tests.support.sessions import mfa_session_data

ROUTER = URLRouter(websocket_urlpatterns)


def device_key() -> str:
    """A fresh P-256 public key, raw uncompressed point in base64 (what the
    browser registers)."""
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.b64encode(raw).decode()


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def fake_ciphertext(n: int = 48) -> dict:
    """Random bytes shaped like an AES-GCM ciphertext and IV."""
    return {"ciphertext": b64(n), "iv": b64(12)}


async def session_of(user) -> dict:
    """The session a browser of `user` has after allauth's login (with the
    second factor when the account has one)."""
    if user is None:
        return {}
    return await database_sync_to_async(mfa_session_data)(user)


async def connect(user, channel_id, *, device=None):
    """Connect, say hello, return (communicator, welcome frame)."""
    comm = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel_id}/")
    comm.scope["user"] = user if user is not None else AnonymousUser()
    comm.scope["session"] = await session_of(user)
    connected, _ = await comm.connect()
    assert connected
    hello = {"type": "hello"}
    if device:
        hello["device_key"] = device
    await comm.send_json_to(hello)
    welcome = await receive_type(comm, "welcome")
    await receive_type(comm, "presence", event="list")
    return comm, welcome


async def refused(user, channel_id) -> tuple[dict, int]:
    """Connect as `user` and expect an error frame then a close: returns both."""
    comm = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel_id}/")
    comm.scope["user"] = user if user is not None else AnonymousUser()
    comm.scope["session"] = await session_of(user)
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from(timeout=3)
    close = await comm.receive_output(timeout=3)
    assert close["type"] == "websocket.close"
    await comm.wait()
    return error, close.get("code")


async def receive_type(comm, kind: str, timeout: float = 3, seq=None, **match) -> dict:
    """The next frame of type `kind` (matching `match`, and for message frames
    the change number `seq`), skipping others."""
    for _ in range(200):
        frame = await comm.receive_json_from(timeout=timeout)
        if frame.get("type") != kind or any(frame.get(k) != v for k, v in match.items()):
            continue
        if seq is None or frame["message"]["seq"] == seq:
            return frame
    raise AssertionError(f"no {kind} frame")


async def closed_with(comm, timeout: float = 3) -> int | None:
    """Skip frames until the server closes; return the close code."""
    for _ in range(200):
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output.get("code")
    raise AssertionError("socket not closed")
