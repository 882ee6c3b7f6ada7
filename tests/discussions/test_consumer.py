"""The channel websocket, driven through Channels' communicator.

Every frame type, authorization for every role and for a removed member, and
bad frames. pytest-asyncio is not used: each test is a coroutine run with
asgiref's async_to_sync.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from discussions import consumers
from discussions import services as svc
from discussions.consumers import (
    CLOSE_BAD_CLIENT,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_UNAUTHENTICATED,
    LIGHT_BURST,
    LIGHT_RATE_PER_SECOND,
    MAX_BAD_FRAMES,
    TokenBucket,
)
from discussions.models import Message
from discussions.tasks import delete_expired_messages
from organizing import services
from organizing.models import Membership, Role
from tests.discussions.helpers import (
    ROUTER,
    b64,
    closed_with,
    connect,
    device_key,
    fake_ciphertext,
    receive_type,
    refused,
    session_of,
)
from tests.support.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro_fn):
    return async_to_sync(coro_fn)()


@pytest.fixture
def channel(roles):
    return svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")


@pytest.fixture
def organizers_only(roles):
    return svc.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers",
        allowed_roles=[Role.ORGANIZER],
    )


# --- authorization ------------------------------------------------------------------

ALL_ROLES_EXPECTED = {
    "anonymous": CLOSE_UNAUTHENTICATED,
    "member": None,
    "delegate": None,
    "organizer": None,
    "other_organizer": CLOSE_FORBIDDEN,
}
ORGANIZERS_ONLY_EXPECTED = {
    "anonymous": CLOSE_UNAUTHENTICATED,
    "member": CLOSE_FORBIDDEN,
    "delegate": CLOSE_FORBIDDEN,
    "organizer": None,
    "other_organizer": CLOSE_FORBIDDEN,
}


@pytest.mark.parametrize("which", ["channel", "organizers_only"])
def test_connect_authorization_for_every_role(roles, channel, organizers_only, which):
    target = channel if which == "channel" else organizers_only
    expected = ALL_ROLES_EXPECTED if which == "channel" else ORGANIZERS_ONLY_EXPECTED
    assert set(expected) == set(roles.users())

    async def scenario():
        for role, user in roles.users().items():
            if expected[role] is None:
                comm, welcome = await connect(user, target.pk)
                assert welcome["channel"]["id"] == target.pk, role
                assert welcome["me"]["name"] == (
                    await database_sync_to_async(
                        lambda u=user: Membership.objects.get(user=u).display_name
                    )()
                )
                await comm.disconnect()
            else:
                error, code = await refused(user, target.pk)
                assert code == expected[role], role
                assert error["type"] == "error"

    run(scenario)


def test_unknown_channel_and_privileged_role_without_mfa(roles, channel):
    async def scenario():
        error, code = await refused(roles.member, 999999)
        assert (error["code"], code) == ("not_found", CLOSE_NOT_FOUND)
        await database_sync_to_async(
            lambda: Authenticator.objects.filter(user=roles.delegate).delete()
        )()
        error, code = await refused(roles.delegate, channel.pk)
        assert code == CLOSE_FORBIDDEN
        assert "two-factor" in error["message"]

    run(scenario)


def test_removed_member_is_disconnected_and_key_rotates(roles, channel):
    async def scenario():
        member, _ = await connect(roles.member, channel.pk, device=device_key())
        organizer, welcome = await connect(roles.organizer, channel.pk, device=device_key())
        assert welcome["channel"]["epoch"] == 1
        target = await database_sync_to_async(
            lambda: Membership.objects.get(user=roles.member, campaign=roles.campaign)
        )()
        target_pk = target.pk
        await database_sync_to_async(services.membership_remove)(
            actor=roles.organizer, membership=target
        )
        removed = await receive_type(member, "error")
        assert removed["code"] == "removed"
        assert await closed_with(member) == CLOSE_FORBIDDEN
        rotate = await receive_type(organizer, "rotate")
        assert rotate["epoch"] == 2
        assert rotate["removed_member"] == target_pk
        # Coming back is refused, and the old epoch no longer takes messages.
        error, code = await refused(roles.member, channel.pk)
        assert code == CLOSE_FORBIDDEN
        await organizer.send_json_to({"type": "send", "epoch": 1, **fake_ciphertext()})
        assert (await receive_type(organizer, "error"))["code"] == "wrong_epoch"
        await organizer.disconnect()

    run(scenario)


def test_role_change_out_of_the_channel_disconnects_and_rotates(roles):
    staff = svc.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="staff",
        allowed_roles=[Role.ORGANIZER, Role.DELEGATE],
    )

    async def scenario():
        delegate, _ = await connect(roles.delegate, staff.pk)
        organizer, _ = await connect(roles.organizer, staff.pk)
        target = await database_sync_to_async(
            lambda: Membership.objects.get(user=roles.delegate, campaign=roles.campaign)
        )()
        await database_sync_to_async(services.membership_change_role)(
            actor=roles.organizer, membership=target, role=Role.MEMBER
        )
        assert (await receive_type(delegate, "error"))["code"] == "forbidden"
        assert await closed_with(delegate) == CLOSE_FORBIDDEN
        assert (await receive_type(organizer, "rotate"))["epoch"] == 2
        await organizer.disconnect()

    run(scenario)


def test_narrowing_roles_disconnects_and_rotates(roles, channel):
    async def scenario():
        member, _ = await connect(roles.member, channel.pk)
        organizer, _ = await connect(roles.organizer, channel.pk)
        await database_sync_to_async(svc.channel_update)(
            actor=roles.organizer, channel=channel, allowed_roles=[Role.ORGANIZER, Role.DELEGATE]
        )
        assert await closed_with(member) == CLOSE_FORBIDDEN
        assert (await receive_type(organizer, "rotate"))["removed_roles"] == [Role.MEMBER]
        await organizer.disconnect()

    run(scenario)


# --- messages -------------------------------------------------------------------------


def test_send_reaches_everyone_and_stores_only_ciphertext(roles, channel):
    async def scenario():
        alice, _ = await connect(roles.member, channel.pk)
        bob, _ = await connect(roles.delegate, channel.pk)
        payload = fake_ciphertext()
        await alice.send_json_to({"type": "send", "epoch": 1, "ref": "r1", **payload})
        sent = await receive_type(alice, "sent")
        assert sent["ref"] == "r1"
        got = (await receive_type(bob, "message"))["message"]
        assert got == sent["message"]
        assert got["ciphertext"] == payload["ciphertext"]
        assert got["sender_name"] == "Mem"
        assert got["seq"] == 1
        stored = await database_sync_to_async(lambda: Message.objects.get(pk=got["id"]))()
        assert stored.ciphertext == payload["ciphertext"]
        assert (stored.created_hour.minute, stored.created_hour.second) == (0, 0)
        await alice.disconnect()
        await bob.disconnect()

    run(scenario)


def test_edit_and_delete_own_message_only(roles, channel):
    async def scenario():
        alice, _ = await connect(roles.member, channel.pk)
        bob, _ = await connect(roles.organizer, channel.pk)
        await alice.send_json_to({"type": "send", "epoch": 1, **fake_ciphertext()})
        msg = (await receive_type(alice, "sent"))["message"]
        new = fake_ciphertext()
        await bob.send_json_to({"type": "edit", "id": msg["id"], "epoch": 1, **new})
        assert (await receive_type(bob, "error"))["code"] == "not_yours"
        await bob.send_json_to({"type": "delete", "id": msg["id"]})
        assert (await receive_type(bob, "error"))["code"] == "not_yours"
        await alice.send_json_to({"type": "edit", "id": msg["id"], "epoch": 1, **new})
        edited = (await receive_type(bob, "message", seq=2))["message"]
        assert edited["id"] == msg["id"] and edited["edited"] is True
        assert edited["ciphertext"] == new["ciphertext"] and edited["seq"] == 2
        await alice.send_json_to({"type": "delete", "id": msg["id"]})
        deleted = (await receive_type(bob, "message", seq=3))["message"]
        assert deleted["deleted"] is True and deleted["ciphertext"] == ""
        stored = await database_sync_to_async(lambda: Message.objects.get(pk=msg["id"]))()
        assert (stored.deleted, stored.ciphertext, stored.iv) == (True, "", "")
        await alice.send_json_to({"type": "edit", "id": msg["id"], "epoch": 1, **new})
        assert (await receive_type(alice, "error"))["code"] == "not_found"
        await alice.disconnect()
        await bob.disconnect()

    run(scenario)


def _post_many(roles, channel, count):
    member = Membership.objects.get(user=roles.member, campaign=roles.campaign)
    return [
        svc.message_post(
            membership_id=member.pk, channel_id=channel.pk, epoch=1, **fake_ciphertext()
        )["id"]
        for _ in range(count)
    ]


def test_history_pages_backwards(roles, channel):
    ids = _post_many(roles, channel, 60)

    async def scenario():
        comm, _ = await connect(roles.delegate, channel.pk)
        await comm.send_json_to({"type": "history", "ref": 7})
        page = await receive_type(comm, "history")
        assert page["ref"] == 7
        assert [m["id"] for m in page["messages"]] == ids[10:]
        assert page["has_more"] is True
        await comm.send_json_to({"type": "history", "before": page["messages"][0]["id"]})
        page = await receive_type(comm, "history")
        assert [m["id"] for m in page["messages"]] == ids[:10]
        assert page["has_more"] is False
        await comm.disconnect()

    run(scenario)


def test_sync_after_reconnect_returns_every_change_in_order(roles, channel):
    ids = _post_many(roles, channel, 3)
    member = Membership.objects.get(user=roles.member, campaign=roles.campaign)
    svc.message_delete(membership_id=member.pk, channel_id=channel.pk, message_id=ids[0])
    ids += _post_many(roles, channel, 250)

    async def scenario():
        comm, welcome = await connect(roles.organizer, channel.pk)
        assert welcome["channel"]["last_seq"] == 254
        # A client that had seen up to seq 2 (before the delete) catches up.
        seen = []
        after = 2
        for _ in range(5):
            await comm.send_json_to({"type": "sync", "after_seq": after})
            page = await receive_type(comm, "sync")
            seen += page["messages"]
            after = page["last_seq"]
            if page["complete"]:
                break
        assert [m["seq"] for m in seen] == list(range(3, 255))
        tombstone = next(m for m in seen if m["id"] == ids[0])
        assert tombstone["deleted"] is True
        assert page["channel_seq"] == 254
        await comm.disconnect()

    run(scenario)


# --- presence, typing, keys -----------------------------------------------------------------


def test_presence_and_typing(roles, channel):
    async def scenario():
        alice, _ = await connect(roles.member, channel.pk)
        bob = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel.pk}/")
        bob.scope["user"] = roles.delegate
        bob.scope["session"] = await session_of(roles.delegate)
        await bob.connect()
        await bob.send_json_to({"type": "hello"})
        await receive_type(bob, "welcome")
        online = await receive_type(bob, "presence", event="list")
        assert {p["name"] for p in online["online"]} == {"Mem", "Del"}
        joined = await receive_type(alice, "presence", event="join")
        assert joined["name"] == "Del"
        await bob.send_json_to({"type": "typing"})
        typing = await receive_type(alice, "typing")
        assert typing["name"] == "Del"
        await bob.send_json_to({"type": "ping"})
        # Bob's own typing is not echoed to him: no typing frame before the pong.
        # (A late copy of Alice's join may arrive first with the Redis layer.)
        before_pong = []
        for _ in range(10):
            frame = await bob.receive_json_from(timeout=3)
            if frame["type"] == "pong":
                break
            before_pong.append(frame["type"])
        assert frame["type"] == "pong" and "typing" not in before_pong
        await bob.send_json_to({"type": "who", "ref": "w"})
        who = await receive_type(bob, "presence", event="list", ref="w")
        assert {p["name"] for p in who["online"]} == {"Mem", "Del"}
        await bob.disconnect()
        left = await receive_type(alice, "presence", event="leave")
        assert left["name"] == "Del"
        await alice.disconnect()

    run(scenario)


def test_device_keys_claim_and_wrap(roles, channel):
    bob_key = device_key()

    async def scenario():
        alice, welcome = await connect(roles.member, channel.pk, device=device_key())
        assert welcome["channel"]["established"] is False
        assert welcome["me"]["fingerprint"] and len(welcome["me"]["fingerprint"]) == 64
        alice_device = welcome["me"]["device"]
        bob, bob_welcome = await connect(roles.delegate, channel.pk, device=bob_key)
        bob_device = bob_welcome["me"]["device"]
        # Alice learns about Bob's new device and may wrap for it.
        new = await receive_type(alice, "device")
        assert new["device"]["id"] == bob_device and new["device"]["has_key"] is False
        wraps = [
            {"device": d, "wrapped": b64(40), "salt": b64(16)} for d in (alice_device, bob_device)
        ]
        await alice.send_json_to({"type": "wrap", "epoch": 1, "claim": True, "wraps": wraps})
        assert (await receive_type(alice, "wrapped"))["count"] == 2
        keys = await receive_type(bob, "keys")
        assert [w["device"] for w in keys["wraps"]] == [bob_device]
        assert keys["wraps"][0]["wrapped"] == wraps[1]["wrapped"]
        assert keys["wraps"][0]["wrapper_fingerprint"] == welcome["me"]["fingerprint"]
        # A second claim of the same epoch loses.
        await bob.send_json_to({"type": "wrap", "epoch": 1, "claim": True, "wraps": []})
        assert (await receive_type(bob, "error"))["code"] == "epoch_taken"
        await bob.send_json_to({"type": "devices"})
        devices = await receive_type(bob, "devices")
        assert {d["id"]: d["has_key"] for d in devices["devices"]} == {
            alice_device: True,
            bob_device: True,
        }
        await bob.disconnect()
        # Reconnecting with the same device key hands the stored wrap back.
        bob, again = await connect(roles.delegate, channel.pk, device=bob_key)
        assert again["me"]["device"] == bob_device
        assert [w["wrapped"] for w in again["wraps"]] == [wraps[1]["wrapped"]]
        assert again["channel"]["established"] is True
        await bob.disconnect()
        await alice.disconnect()

    run(scenario)


def test_wrap_for_device_outside_channel_is_refused(roles, organizers_only):
    MembershipFactory(campaign=roles.campaign, role=Role.MEMBER)

    async def scenario():
        org, welcome = await connect(roles.organizer, organizers_only.pk, device=device_key())
        # The member's device (a member may not join this channel) gets no key.
        member_comm, _ = await connect(
            roles.member,
            (
                await database_sync_to_async(
                    lambda: svc.channel_create(
                        actor=roles.organizer, campaign=roles.campaign, name="all"
                    )
                )()
            ).pk,
            device=device_key(),
        )
        member_device = await database_sync_to_async(
            lambda: roles.member.memberships.get().device_keys.get().pk
        )()
        await org.send_json_to(
            {
                "type": "wrap",
                "epoch": 1,
                "claim": True,
                "wraps": [{"device": member_device, "wrapped": b64(40), "salt": b64(16)}],
            }
        )
        assert (await receive_type(org, "error"))["code"] == "bad_field"
        await org.disconnect()
        await member_comm.disconnect()

    run(scenario)


# --- bad frames -------------------------------------------------------------------------


def test_bad_frames_get_error_frames_not_crashes(roles, channel):
    async def scenario():
        comm = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel.pk}/")
        comm.scope["user"] = roles.member
        comm.scope["session"] = await session_of(roles.member)
        await comm.connect()
        await comm.send_json_to({"type": "send", "epoch": 1, **fake_ciphertext()})
        assert (await comm.receive_json_from())["code"] == "hello_first"
        await comm.send_json_to({"type": "hello", "device_key": "not-a-key"})
        assert (await comm.receive_json_from())["code"] == "bad_field"
        await comm.send_json_to({"type": "hello", "device_key": b64(65)})  # not on the curve
        assert (await comm.receive_json_from())["code"] == "bad_field"
        await comm.send_json_to({"type": "hello"})
        await receive_type(comm, "presence", event="list")
        cases = [
            ("this is not json", "bad_json"),
            ("[1, 2]", "bad_frame"),
            ('{"no": "type"}', "bad_frame"),
            ('{"type": "shout"}', "unknown_type"),
            (
                json.dumps(
                    {"type": "send", "epoch": 1, "ciphertext": "x" * 200_000, "iv": b64(12)}
                ),
                "too_large",
            ),
            (json.dumps({"type": "send", "epoch": 2, **fake_ciphertext()}), "wrong_epoch"),
            (json.dumps({"type": "send", "epoch": "1", **fake_ciphertext()}), "bad_field"),
            (
                json.dumps({"type": "send", "epoch": 1, "ciphertext": "%%%", "iv": b64(12)}),
                "bad_field",
            ),
            (
                json.dumps({"type": "send", "epoch": 1, "ciphertext": b64(40), "iv": b64(8)}),
                "bad_field",
            ),
            (
                json.dumps({"type": "send", "epoch": 1, "ciphertext": b64(20_000), "iv": b64(12)}),
                "too_large",
            ),
            (json.dumps({"type": "edit", "id": "x", "epoch": 1, **fake_ciphertext()}), "bad_field"),
            (json.dumps({"type": "delete", "id": 424242}), "not_found"),
            (json.dumps({"type": "history", "before": -1}), "bad_field"),
            (json.dumps({"type": "sync"}), "bad_field"),
            (json.dumps({"type": "wrap", "epoch": 1, "wraps": []}), "no_device"),
            (json.dumps({"type": "hello"}), "bad_frame"),
        ]
        for text, code in cases:
            await comm.send_to(text_data=text)
            frame = await receive_type(comm, "error")
            assert frame["code"] == code, text[:60]
        await comm.send_to(bytes_data=b"\x00\x01")
        assert (await receive_type(comm, "error"))["code"] == "bad_frame"
        # Still connected and nothing was stored.
        await comm.send_json_to({"type": "ping"})
        assert (await receive_type(comm, "pong"))["type"] == "pong"
        assert await database_sync_to_async(Message.objects.count)() == 0
        await comm.disconnect()

    run(scenario)


def test_too_many_bad_frames_close_the_socket(roles, channel):
    async def scenario():
        comm, _ = await connect(roles.member, channel.pk)
        for _ in range(MAX_BAD_FRAMES):
            await comm.send_to(text_data="nope")
        assert await closed_with(comm) == CLOSE_BAD_CLIENT

    run(scenario)


@pytest.mark.parametrize("kind", ["ping", "typing"])
def test_a_flood_of_pings_or_typing_is_refused_then_closed(roles, channel, kind):
    """The audit sent 2,500 pings in 5 s, each answered and each writing
    presence to Redis."""

    async def scenario():
        comm, _ = await connect(roles.member, channel.pk)
        for _ in range(2500):
            await comm.send_to(text_data=json.dumps({"type": kind}))
        answered, refused, close_code = 0, 0, None
        for _ in range(2600):
            try:
                output = await comm.receive_output(timeout=3)
            except TimeoutError:  # every frame answered, and no close
                break
            if output["type"] == "websocket.close":
                close_code = output.get("code")
                break
            frame = json.loads(output["text"])
            if frame["type"] == "pong":
                answered += 1
            elif frame["type"] == "error":
                assert frame["code"] == "rate_limited"
                refused += 1
        assert (close_code, refused) == (CLOSE_BAD_CLIENT, MAX_BAD_FRAMES), answered
        # The burst, plus what trickled in while the flood was read.
        assert answered <= (LIGHT_BURST + 5 if kind == "ping" else 0)
        assert await comm.receive_nothing(timeout=0.5)  # the rest of the flood was dropped

    run(scenario)


def test_the_pages_keepalive_and_typing_are_never_refused():
    """static/js/channels.js pings every 25 s and sends typing at most every
    2.5 s: an hour of someone typing without a pause stays within the allowance."""
    bucket = TokenBucket(LIGHT_RATE_PER_SECOND, LIGHT_BURST, now=0.0)
    frames = sorted([t * 2.5 for t in range(1, 1440)] + [t * 25.0 for t in range(1, 144)])
    assert all(bucket.take(now) for now in frames)
    # Two tabs' worth of frames sent at the same instant, after a reconnect.
    assert all(bucket.take(3600.0) for _ in range(4))
    # A flood at one instant gets the burst and no more.
    flood = TokenBucket(LIGHT_RATE_PER_SECOND, LIGHT_BURST, now=0.0)
    assert sum(flood.take(1.0) for _ in range(2500)) == LIGHT_BURST


def test_archived_channel_is_read_only(roles, channel):
    _post_many(roles, channel, 1)
    svc.channel_archive(actor=roles.organizer, channel=channel)

    async def scenario():
        comm, welcome = await connect(roles.member, channel.pk)
        assert welcome["channel"]["archived"] is True
        await comm.send_json_to({"type": "send", "epoch": 1, **fake_ciphertext()})
        assert (await receive_type(comm, "error"))["code"] == "archived"
        await comm.send_json_to({"type": "history"})
        assert len((await receive_type(comm, "history"))["messages"]) == 1
        await comm.disconnect()

    run(scenario)


def test_expired_event_reaches_clients(roles, channel):
    svc.channel_update(actor=roles.organizer, channel=channel, retention_days=1)
    ids = _post_many(roles, channel, 2)
    Message.objects.filter(pk=ids[0]).update(created_hour=timezone.now() - timedelta(days=2))

    async def scenario():
        comm, _ = await connect(roles.member, channel.pk)
        assert await database_sync_to_async(delete_expired_messages)() == 1
        assert (await receive_type(comm, "expired"))["up_to_id"] == ids[0]
        await comm.disconnect()

    run(scenario)


def test_full_asgi_stack_with_session_cookie_and_origin(roles, channel, client):
    # Imported here, by the one test that needs it: importing the entry point
    # freezes the garbage collector for the rest of the process (config/asgi.py).
    from config.asgi import application

    client.force_login(roles.member)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        ok = WebsocketCommunicator(
            application,
            f"/ws/channels/{channel.pk}/",
            headers=[
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
                (b"cookie", cookie),
            ],
        )
        connected, _ = await ok.connect()
        assert connected
        await ok.send_json_to({"type": "hello"})
        assert (await receive_type(ok, "welcome"))["me"]["name"] == "Mem"
        await ok.disconnect()
        foreign = WebsocketCommunicator(
            application,
            f"/ws/channels/{channel.pk}/",
            headers=[
                (b"origin", b"https://evil.example"),
                (b"host", b"127.0.0.1"),
                (b"cookie", cookie),
            ],
        )
        connected, _ = await foreign.connect()
        assert not connected

    run(scenario)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_big_channels_do_not_announce_each_join(roles, channel, monkeypatch):
    monkeypatch.setattr(consumers, "PRESENCE_ANNOUNCE_MAX", 1)

    async def scenario():
        alice, _ = await connect(roles.member, channel.pk)
        bob, _ = await connect(roles.delegate, channel.pk)
        # Bob made two online: no join announced; Alice sees him when she asks.
        await alice.send_json_to({"type": "who"})
        frames = []
        for _ in range(10):
            frame = await alice.receive_json_from(timeout=3)
            frames.append(frame)
            if frame.get("event") == "list":
                break
        assert not any(f.get("event") == "join" for f in frames)
        assert {p["name"] for p in frames[-1]["online"]} == {"Mem", "Del"}
        await bob.disconnect()
        await alice.disconnect()

    run(scenario)
