"""Golden websocket protocol of the discussion channels: the path, the frame
types, the close codes and the error codes, as the consumer implements them
and as docs/channels-protocol.md (the contract with static/js/channels.js)
lists them. Frozen on commit 1d16306.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from tests.contracts import paths

# Computed on commit 1d16306; must never change (only grow, deliberately).
WEBSOCKET_ROUTES = ["ws/channels/<int:channel_id>/"]
CLIENT_FRAMES = {
    "hello",
    "send",
    "edit",
    "delete",
    "history",
    "sync",
    "typing",
    "devices",
    "wrap",
    "ping",
    "who",
}
SERVER_FRAMES = {
    "welcome",
    "message",
    "sent",
    "history",
    "sync",
    "presence",
    "typing",
    "device",
    "devices",
    "keys",
    "rotate",
    "channel",
    "expired",
    "error",
    "wrapped",
    "pong",
}
CLOSE_CODES = {
    "CLOSE_BAD_CLIENT": 4400,
    "CLOSE_UNAUTHENTICATED": 4401,
    "CLOSE_FORBIDDEN": 4403,
    "CLOSE_NOT_FOUND": 4404,
    "CLOSE_TOO_SLOW": 4000,
    # Added when Redis is down (issue 13): the channel layer is unreachable.
    "CLOSE_UNAVAILABLE": 4503,
}
ERROR_CODES = {
    "bad_json",
    "bad_frame",
    "unknown_type",
    "too_large",
    "bad_field",
    "hello_first",
    "wrong_epoch",
    "archived",
    "not_found",
    "not_yours",
    "no_device",
    "no_key",
    "epoch_taken",
    "too_many_devices",
    "rate_limited",
    "unauthenticated",
    "forbidden",
    "removed",
    "unavailable",  # added with 4503 (issue 13)
    "server_error",
}


# --- the documentation ---------------------------------------------------------------


def protocol_doc() -> str:
    return (Path(settings.BASE_DIR) / "docs" / "channels-protocol.md").read_text()


def doc_section(heading: str) -> str:
    text = protocol_doc()
    start = text.index(heading)
    end = re.search(r"\n#{2,3} ", text[start + len(heading) :])
    return text[start : start + len(heading) + end.start()] if end else text[start:]


def first_column_names(section: str) -> set[str]:
    """Backticked names in the first column of a markdown table."""
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_documented_client_frames():
    assert first_column_names(doc_section("### Client → server")) == CLIENT_FRAMES


def test_documented_server_frames():
    documented = first_column_names(doc_section("### Server → client"))
    # Two replies are documented only in the client table, beside their request.
    assert documented | {"wrapped", "pong"} == SERVER_FRAMES
    client_table = doc_section("### Client → server")
    assert "`wrapped`" in client_table and "`pong`" in client_table


def test_documented_close_codes():
    table = doc_section("## Connection")
    documented = {int(code) for code in re.findall(r"^\| (\d{4}) \|", table, re.MULTILINE)}
    assert documented == set(CLOSE_CODES.values())


def test_documented_error_codes():
    paragraph = protocol_doc().split("Error codes:", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", paragraph)) == ERROR_CODES


def test_documented_path():
    assert "`GET /ws/channels/<channel id>/`" in protocol_doc()


# --- the code -------------------------------------------------------------------------


def test_websocket_routes():
    assert [str(route.pattern) for route in paths.websocket_urlpatterns] == WEBSOCKET_ROUTES


def test_consumer_handles_the_frozen_client_frames():
    assert set(paths.channel_consumers.ChannelConsumer.HANDLERS) == CLIENT_FRAMES


def test_close_codes():
    module = vars(paths.channel_consumers)
    assert {name: value for name, value in module.items() if name.startswith("CLOSE_")} == (
        CLOSE_CODES
    )


# --- through the socket ---------------------------------------------------------------

ROUTER = URLRouter(paths.websocket_urlpatterns)


def channel_made_by(organizer, client_for) -> int:
    response = client_for(organizer).post(
        "/c/acme/channels/new/",
        {"name": "general", "allowed_roles": list(paths.Role.values), "retention_days": "0"},
    )
    assert response.status_code == 302, response.content
    return int(re.search(r"/c/acme/channels/(\d+)/$", response["Location"]).group(1))


def socket(user, channel_id) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel_id}/")
    comm.scope["user"] = user if user is not None else AnonymousUser()
    return comm


async def frames_until(comm, ref: str) -> list[dict]:
    """Every frame up to and including the one that echoes `ref`."""
    frames = []
    while not frames or frames[-1].get("ref") != ref:
        frames.append(await comm.receive_json_from(timeout=5))
    return frames


@pytest.mark.django_db(transaction=True)
def test_every_client_frame_is_understood(roles, client_for):
    channel_id = channel_made_by(roles.organizer, client_for)

    async def scenario():
        comm = socket(roles.member, channel_id)
        connected, _ = await comm.connect()
        assert connected
        seen = []
        await comm.send_json_to({"type": "hello", "ref": "hello"})
        seen += await frames_until(comm, "hello")
        for kind in sorted(CLIENT_FRAMES - {"hello"}):
            # Fields left out on purpose: a known type with bad fields is a
            # bad_field error, an unknown one unknown_type. The ping after it
            # marks where its replies end (typing has none).
            await comm.send_json_to({"type": kind, "ref": kind})
            await comm.send_json_to({"type": "ping", "ref": f"after-{kind}"})
            replies = await frames_until(comm, f"after-{kind}")
            errors = [f["code"] for f in replies if f["type"] == "error"]
            assert "unknown_type" not in errors, kind
            seen += replies
        await comm.send_json_to({"type": "shout", "ref": "shout"})
        (error,) = await frames_until(comm, "shout")
        assert (error["type"], error["code"]) == ("error", "unknown_type")
        await comm.disconnect()
        assert {frame["type"] for frame in seen} <= SERVER_FRAMES
        assert {"welcome", "presence", "pong", "history", "devices"} <= {
            frame["type"] for frame in seen
        }

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_refusals_send_an_error_then_the_frozen_close_code(roles, client_for):
    channel_id = channel_made_by(roles.organizer, client_for)

    async def refused(user, target) -> tuple[str, int]:
        comm = socket(user, target)
        connected, _ = await comm.connect()
        assert connected
        error = await comm.receive_json_from(timeout=5)
        close = await comm.receive_output(timeout=5)
        assert close["type"] == "websocket.close"
        await comm.wait()
        return error["code"], close["code"]

    async def scenario():
        assert await refused(None, channel_id) == ("unauthenticated", 4401)
        assert await refused(roles.other_organizer, channel_id) == ("forbidden", 4403)
        assert await refused(roles.member, channel_id + 1000) == ("not_found", 4404)

    async_to_sync(scenario)()
