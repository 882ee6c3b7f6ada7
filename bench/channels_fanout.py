"""Fan-out of one discussion channel on the production set-up.

Two uvicorn processes (organizing.asgi) behind one Redis (channels-redis
Pub/Sub layer) and PostgreSQL; N websocket clients (real sockets, the
`websockets` package) spread over both processes, all in one channel; one
sender posts at a steady rate. Each ciphertext carries its send time, so every
receiver measures end-to-end latency (sender -> server -> DB commit -> Redis
-> other process -> client). Prints p50/p99/max latency, delivered messages
per second, lost deliveries, the connect time, and the peak RSS of the server
processes.

    .venv/bin/python bench/channels_fanout.py                 # N = 100 and 1000
    .venv/bin/python bench/channels_fanout.py --clients 100 --duration 10

It recreates the database `organizing_bench_channels` and uses Redis db 5.
Everything listens on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.organizing.channels_servers import Server, manage, seed, server_env  # noqa: E402

DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/organizing_bench_channels"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"


def recreate_database(url: str) -> None:
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.latencies_ms: list[float] = []
        self.first_send = None
        self.last_receive = 0.0
        self.other_frames = 0


async def receiver(server, session, channel_id, stats: Stats, ready: asyncio.Event, stop):
    import websockets

    ws = await websockets.connect(
        f"{server.ws_url}/ws/channels/{channel_id}/",
        origin=server.url,
        additional_headers={"Cookie": f"sessionid={session}"},
        max_queue=None,
        open_timeout=60,
    )
    try:
        await ws.send('{"type": "hello"}')
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "welcome":
                break
        ready.set()
        async for raw in ws:  # until cancelled at the end of the run
            if '"type": "message"' not in raw:
                stats.other_frames += 1
                continue
            now = time.time_ns()
            frame = json.loads(raw)
            sent_ns = int.from_bytes(base64.b64decode(frame["message"]["ciphertext"])[:8], "big")
            stats.latencies_ms.append((now - sent_ns) / 1e6)
            stats.last_receive = time.monotonic()
    finally:
        await ws.close()


async def run_once(servers, seeded, n: int, rate: float, duration: float) -> dict:
    import websockets

    channel_id = seeded["channel_id"]
    names = [name for name in seeded["sessions"] if name.startswith("m")]
    sender_name, receiver_names = names[0], names[1 : n + 1]
    stats = Stats()
    stop = asyncio.Event()
    peak = {s.proc.pid: rss_kib(s.proc.pid) for s in servers}

    async def sample_memory():
        while not stop.is_set():
            for s in servers:
                peak[s.proc.pid] = max(peak[s.proc.pid], rss_kib(s.proc.pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_memory())
    started = time.monotonic()
    tasks = []
    gate = asyncio.Semaphore(50)  # connect 50 at a time

    async def start(i, name):
        async with gate:
            ready = asyncio.Event()
            task = asyncio.create_task(
                receiver(servers[i % 2], seeded["sessions"][name], channel_id, stats, ready, stop)
            )
            tasks.append(task)
            await asyncio.wait_for(ready.wait(), 60)

    await asyncio.gather(*(start(i, name) for i, name in enumerate(receiver_names)))
    connect_s = time.monotonic() - started
    # Let the presence announcements of the connect storm drain (bounded).
    quiet_since, previous = time.monotonic(), -1
    for _ in range(240):
        if stats.other_frames != previous:
            previous, quiet_since = stats.other_frames, time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            break
        await asyncio.sleep(0.25)
    settle_s = time.monotonic() - started - connect_s

    sender = await websockets.connect(
        f"{servers[0].ws_url}/ws/channels/{channel_id}/",
        origin=servers[0].url,
        additional_headers={"Cookie": f"sessionid={seeded['sessions'][sender_name]}"},
    )
    await sender.send('{"type": "hello"}')
    for _ in range(100):
        if json.loads(await sender.recv())["type"] == "welcome":
            break
    acks = 0
    ack_ms: list[float] = []

    async def drain_sender():
        nonlocal acks
        async for raw in sender:
            if '"type": "sent"' in raw:
                acks += 1
                frame = json.loads(raw)
                sent_ns = int.from_bytes(
                    base64.b64decode(frame["message"]["ciphertext"])[:8], "big"
                )
                ack_ms.append((time.time_ns() - sent_ns) / 1e6)
            elif '"type": "error"' in raw:
                print("sender error:", raw, file=sys.stderr)

    drainer = asyncio.create_task(drain_sender())
    count = int(duration * rate)
    interval = 1.0 / rate
    t0 = time.monotonic()
    stats.first_send = t0
    for i in range(count):
        # Steady rate: wait for the next slot (not "sleep interval after each").
        delay = t0 + i * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        payload = time.time_ns().to_bytes(8, "big") + os.urandom(56)
        frame = {
            "type": "send",
            "epoch": 1,
            "ciphertext": base64.b64encode(payload).decode(),
            "iv": base64.b64encode(os.urandom(12)).decode(),
        }
        await sender.send(json.dumps(frame))
    expected = count * n
    for _ in range(100):  # up to 10 s for the last deliveries
        if len(stats.latencies_ms) >= expected:
            break
        await asyncio.sleep(0.1)
    stop.set()
    for task in [*tasks, drainer]:
        task.cancel()
    await asyncio.gather(*tasks, drainer, sampler, return_exceptions=True)
    await sender.close()

    lat = sorted(stats.latencies_ms)
    span = max(stats.last_receive - t0, 1e-9)
    quantiles = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {
        "clients": n,
        "sent": count,
        "acked": acks,
        "delivered": len(lat),
        "expected": expected,
        "p50_ms": quantiles[49],
        "p99_ms": quantiles[98],
        "max_ms": lat[-1] if lat else float("nan"),
        "ack_p50_ms": statistics.median(ack_ms) if ack_ms else float("nan"),
        "deliveries_per_s": len(lat) / span,
        "connect_s": connect_s,
        "settle_s": settle_s,
        "peak_rss_mib": {pid: kib / 1024 for pid, kib in peak.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--database", default=DEFAULT_DB)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument(
        "--server-deflate",
        choices=["on", "off"],
        default="on",
        help="uvicorn's permessage-deflate (browsers, and these clients, offer it)",
    )
    args = parser.parse_args()
    if max(args.clients) > 5000 or args.duration > 300 or args.rate > 100:
        parser.error("bounded: at most 5000 clients, 300 s, 100 msg/s")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    recreate_database(args.database)
    flush_redis(args.redis)
    data = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    env = server_env(data, database_url=args.database, redis_url=args.redis)
    print("migrating and seeding ...", flush=True)
    manage(env, "migrate", "--noinput")
    seeded = seed(env, {"member_count": max(args.clients) + 1})
    extra = ["--ws-per-message-deflate", "false"] if args.server_deflate == "off" else []
    servers = [Server(env, log_path=data / f"uvicorn{i}.log", extra=extra) for i in (1, 2)]
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(f"2 uvicorn processes, Redis {args.redis}, PostgreSQL {args.database}")
        print(
            f"one sender at {args.rate:g} msg/s for {args.duration:g} s, "
            f"server permessage-deflate {args.server_deflate}"
        )
        print("load average before: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
        header = (
            f"{'N':>6} {'delivered':>15} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'deliv/s':>9} {'connect s':>10} {'settle s':>9} {'peak RSS MiB (2 procs)':>24}"
        )
        print(header)
        for n in args.clients:
            flush_redis(args.redis)
            result = asyncio.run(run_once(servers, seeded, n, args.rate, args.duration))
            rss = " + ".join(f"{v:.0f}" for v in result["peak_rss_mib"].values())
            print(
                f"{n:>6} {result['delivered']:>7}/{result['expected']:<7} "
                f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['max_ms']:>8.1f} "
                f"{result['deliveries_per_s']:>9.0f} {result['connect_s']:>10.1f} "
                f"{result['settle_s']:>9.1f} {rss:>24}",
                flush=True,
            )
            print(f"       sender's ack (stored) p50 {result['ack_p50_ms']:.1f} ms")
            if result["acked"] != result["sent"]:
                print(f"  only {result['acked']} of {result['sent']} sends acknowledged")
        print("\nload average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
