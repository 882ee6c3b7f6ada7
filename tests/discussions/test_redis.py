"""Scale-out: two uvicorn processes on one Redis (channels-redis Pub/Sub layer).

A message sent through one process reaches a client of the other; after Redis
is restarted, clients reconnect and resync without losing a stored message.
The Redis here is a throwaway redis-server of this test (no persistence), so
restarting it touches nothing else; both servers share a SQLite file.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.discussions.helpers import fake_ciphertext
from tests.discussions.servers import RedisServer, Server, manage, seed, server_env

pytestmark = pytest.mark.redis


@pytest.fixture
def cluster(tmp_path):
    redis = RedisServer()
    data = tmp_path / "server-data"
    data.mkdir()
    env = server_env(data, redis_url=redis.url)
    manage(env, "migrate", "--noinput")
    seeded = seed(env, {"members": ["Alice", "Bob"]})
    servers = [Server(env, log_path=tmp_path / f"uvicorn{i}.log") for i in (1, 2)]
    yield redis, servers, seeded
    for server in servers:
        server.stop()
    redis.stop()


async def _open(server, session, channel_id):
    ws = await websockets.connect(
        f"{server.ws_url}/ws/channels/{channel_id}/",
        origin=server.url,
        additional_headers={"Cookie": f"sessionid={session}"},
    )
    await ws.send(json.dumps({"type": "hello"}))
    welcome = await _expect(ws, "welcome")
    return ws, welcome


async def _expect(ws, kind, timeout=10, message_id=None, **match):
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] != kind or any(frame.get(k) != v for k, v in match.items()):
                continue
            if message_id is None or frame["message"]["id"] == message_id:
                return frame


async def _send(ws, ref):
    await ws.send(json.dumps({"type": "send", "epoch": 1, "ref": ref, **fake_ciphertext()}))
    return (await _expect(ws, "sent", ref=ref))["message"]


async def _scenario(redis, servers, seeded):
    channel = seeded["channel_id"]
    alice, _ = await _open(servers[0], seeded["sessions"]["Alice"], channel)
    bob, _ = await _open(servers[1], seeded["sessions"]["Bob"], channel)

    # Across processes, through Redis.
    first = await _send(alice, "one")
    got = await _expect(bob, "message")
    assert got["message"]["id"] == first["id"]
    assert got["message"]["ciphertext"] == first["ciphertext"]
    bob_last_seq = got["message"]["seq"]

    # Redis goes away. A message sent meanwhile is stored (the sender gets its
    # ack) even though it cannot be relayed.
    redis.stop()
    during = await _send(alice, "two")
    assert during["seq"] == bob_last_seq + 1
    redis.start()

    # Bob reconnects (to the other process) and resyncs from the last seq seen.
    await bob.close()
    bob, welcome = await _open(servers[1], seeded["sessions"]["Bob"], channel)
    assert welcome["channel"]["last_seq"] == during["seq"]
    await bob.send(json.dumps({"type": "sync", "after_seq": bob_last_seq}))
    sync = await _expect(bob, "sync")
    assert [m["id"] for m in sync["messages"]] == [during["id"]]
    assert sync["complete"] is True

    # Alice reconnects too; live delivery across the processes works again.
    await alice.close()
    alice, _ = await _open(servers[0], seeded["sessions"]["Alice"], channel)
    after = await _send(alice, "three")
    got = await _expect(bob, "message", timeout=15)
    assert got["message"]["id"] == after["id"]
    assert got["message"]["seq"] == during["seq"] + 1
    # And the other way round.
    back = await _send(bob, "four")
    got = await _expect(alice, "message", timeout=15, message_id=back["id"])
    assert got["message"]["sender"] == seeded["memberships"]["Bob"]
    await alice.close()
    await bob.close()


def test_two_processes_one_redis_survive_a_redis_restart(cluster):
    redis, servers, seeded = cluster
    asyncio.run(_scenario(redis, servers, seeded))
    for server in servers:
        assert server.proc.poll() is None  # neither process crashed
