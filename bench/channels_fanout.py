"""Fan-out of one discussion channel on the production set-up.

Two uvicorn processes (config.asgi, `--ws websockets-sansio`, no
permessage-deflate, as in the Procfile) behind one Redis (channels-redis
Pub/Sub layer) and PostgreSQL; N receiving websocket clients spread over both
servers, all in one channel; one sender (the `websockets` package) posts at a
steady rate. The receivers are lean but real: TCP connections, the RFC 6455
handshake and frame parsing written by hand on asyncio Protocols (uvloop),
spread over `--client-procs` processes; each reads every frame and timestamps
it on arrival. Each ciphertext carries its send time, so every receiver
measures end-to-end latency (sender -> server -> DB commit -> Redis -> both
processes -> client). Prints p50/p99/max latency, delivered messages per
second, the connect time, the peak RSS of the servers, and the CPU time each
process (servers, client processes, Redis, the whole machine) used while
sending, so a reader can see who competed for the cores.

    .venv/bin/python bench/channels_fanout.py                 # N = 100 and 1000
    .venv/bin/python bench/channels_fanout.py --clients 100 --duration 10

It recreates the database `organizing_bench_channels` and uses Redis db 5.
Everything listens on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.discussions.servers import Server, manage, seed, server_env  # noqa: E402

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


def cpu_s(pid) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy (everything on the machine)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


REDIS_PID: list[int] = []


# ---------------------------------------------------------------------------
# Lean receiving clients: real websocket connections (TCP, RFC 6455 handshake
# and framing) written by hand on asyncio Protocols, so that 1,000 of them cost
# the machine little CPU. Each client still reads every frame the server sends
# and timestamps it on arrival; of a `message` frame it reads only the send
# time in the first 8 bytes of the ciphertext, of anything else only the type.

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MESSAGE_MARK = b'"type": "message"'
CIPHERTEXT_MARK = b'"ciphertext": "'


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client -> server frame (clients must mask, RFC 6455 5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = (mask * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    return head + mask + body


class LeanClient(asyncio.Protocol):
    def __init__(self, worker, path: str, host: str, origin: str, session: str, deflate: bool):
        self.worker = worker
        self.key = base64.b64encode(os.urandom(16))
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key.decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n"
            f"Cookie: sessionid={session}\r\n"
            + ("Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else "")
            + "\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.welcomed = asyncio.get_running_loop().create_future()
        self.fragments: list[bytes] = []
        self.transport = None
        self.inflate = None  # a zlib stream when the server agreed to permessage-deflate
        self.compressed = False

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc):
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"connection lost: {exc}"))
        elif not self.worker.stopping:
            self.worker.lost += 1

    def data_received(self, data: bytes):
        now = time.time_ns()
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[: end + 4]
            accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest()).decode()
            if not head.startswith("HTTP/1.1 101") or accept not in head:
                self.welcomed.set_exception(ConnectionError(head.split("\r\n")[0]))
                self.transport.close()
                return
            self.upgraded = True
            if "permessage-deflate" in head.lower():
                self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            self.transport.write(masked_frame(0x1, b'{"type": "hello"}'))
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n, head = b1 & 0x7F, 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if b1 & 0x80:  # server frames are never masked (RFC 6455 5.1)
                raise ConnectionError("masked frame from the server")
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping -> pong
                self.transport.write(masked_frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()
            elif opcode in (0x0, 0x1, 0x2):
                if opcode:
                    self.compressed = bool(b0 & 0x40)  # RSV1: a compressed message
                self.fragments.append(payload)
                if b0 & 0x80:  # FIN
                    message = b"".join(self.fragments)
                    self.fragments = []
                    if self.compressed:
                        message = self.inflate.decompress(message + b"\x00\x00\xff\xff")
                    self.on_frame(message, now)
        del buf[:pos]

    def on_frame(self, payload: bytes, now: int):
        if MESSAGE_MARK in payload:
            at = payload.find(CIPHERTEXT_MARK) + len(CIPHERTEXT_MARK)
            sent_ns = int.from_bytes(base64.b64decode(payload[at : at + 12])[:8], "big")
            self.worker.latencies.append((now - sent_ns) / 1e6)
            self.worker.last_receive = time.time()
        elif not self.welcomed.done() and b'"type": "welcome"' in payload:
            self.welcomed.set_result(None)
        else:
            self.worker.other_frames += 1

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


class LeanWorker:
    """One client process: connects its share of the clients, then answers
    the main process's questions on a pipe until told to stop."""

    def __init__(self, deflate: bool):
        self.deflate = deflate
        self.latencies = array.array("d")
        self.other_frames = 0
        self.last_receive = 0.0
        self.lost = 0
        self.stopping = False

    async def run(self, conn, targets, channel_id):
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(25)
        clients = []

        async def connect(port, session):
            async with gate:
                _, client = await loop.create_connection(
                    lambda: LeanClient(
                        self,
                        f"/ws/channels/{channel_id}/",
                        f"127.0.0.1:{port}",
                        f"http://127.0.0.1:{port}",
                        session,
                        self.deflate,
                    ),
                    "127.0.0.1",
                    port,
                )
                clients.append(client)
                await asyncio.wait_for(client.welcomed, 60)

        await asyncio.gather(*(connect(port, session) for port, session in targets))
        conn.send(("connected", len(clients)))
        commands: asyncio.Queue = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: commands.put_nowait(conn.recv()))
        while True:
            command = await commands.get()
            if command == "status":
                conn.send((len(self.latencies), self.other_frames, self.last_receive, self.lost))
            elif command == "stop":
                self.stopping = True
                loop.remove_reader(conn.fileno())
                os.set_blocking(conn.fileno(), True)  # the event loop made it non-blocking
                for client in clients:
                    client.close()
                conn.send(self.latencies.tobytes())
                return


def lean_worker_main(conn, targets, channel_id, deflate):
    """Entry point of a client process (multiprocessing, spawn)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(LeanWorker(deflate).run(conn, targets, channel_id))


async def run_once(
    servers, seeded, n: int, rate: float, duration: float, client_procs: int, deflate: bool
) -> dict:
    import websockets

    channel_id = seeded["channel_id"]
    names = [name for name in seeded["sessions"] if name.startswith("m")]
    sender_name, receiver_names = names[0], names[1 : n + 1]
    peak = {s.proc.pid: rss_kib(s.proc.pid) for s in servers}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def sample_memory():
        while not stop.is_set():
            for s in servers:
                peak[s.proc.pid] = max(peak[s.proc.pid], rss_kib(s.proc.pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_memory())
    started = time.monotonic()
    # Receivers alternate between the two servers; client process k gets every
    # client_procs-th of them.
    targets = [
        (servers[i % 2].port, seeded["sessions"][name]) for i, name in enumerate(receiver_names)
    ]
    context = multiprocessing.get_context("spawn")
    workers = []
    for k in range(client_procs):
        ours, theirs = context.Pipe()
        proc = context.Process(
            target=lean_worker_main,
            args=(theirs, targets[k::client_procs], channel_id, deflate),
        )
        proc.start()
        workers.append((proc, ours))

    async def ask(conn, command=None, timeout=120):
        if command is not None:
            conn.send(command)
        if not await loop.run_in_executor(None, conn.poll, timeout):
            raise RuntimeError("a client process did not answer")
        return conn.recv()

    async def status():
        answers = await asyncio.gather(*(ask(conn, "status") for _, conn in workers))
        delivered = sum(a[0] for a in answers)
        return delivered, sum(a[1] for a in answers), max(a[2] for a in answers), answers

    connected = await asyncio.gather(*(ask(conn) for _, conn in workers))
    assert sum(c[1] for c in connected) == n, connected
    connect_s = time.monotonic() - started
    # Let the presence announcements of the connect storm drain (bounded).
    quiet_since, previous = time.monotonic(), -1
    for _ in range(240):
        other = (await status())[1]
        if other != previous:
            previous, quiet_since = other, time.monotonic()
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
    t0, t0_wall = time.monotonic(), time.time()
    cpu_pids = {"server 1": servers[0].proc.pid, "server 2": servers[1].proc.pid}
    cpu_pids.update({f"client proc {k + 1}": p.pid for k, (p, _) in enumerate(workers)})
    cpu_pids.update({"sender+main": os.getpid(), "redis": REDIS_PID[0]})
    cpu0 = {k: cpu_s(v) for k, v in cpu_pids.items()}
    busy0 = machine_busy_s()
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
        delivered, _, last_receive, answers = await status()
        if delivered >= expected:
            break
        await asyncio.sleep(0.1)
    wall = time.monotonic() - t0
    used = {k: cpu_s(v) - cpu0[k] for k, v in cpu_pids.items()}
    cpu = {k: v / wall * 100 for k, v in used.items()}
    done = max(delivered, 1)
    per_delivery_us = {
        "servers": sum(v for k, v in used.items() if k.startswith("server")) / done * 1e6,
        "clients": sum(v for k, v in used.items() if k.startswith("client")) / done * 1e6,
    }
    cpu["machine (all)"] = (machine_busy_s() - busy0) / wall * 100
    stop.set()
    lost = sum(a[3] for a in answers)
    lat_arr = array.array("d")
    for _proc, conn in workers:
        lat_arr.frombytes(await ask(conn, "stop"))
    for proc, _conn in workers:
        await loop.run_in_executor(None, proc.join, 30)
        if proc.is_alive():
            proc.kill()
    drainer.cancel()
    await asyncio.gather(drainer, sampler, return_exceptions=True)
    await sender.close()

    lat = sorted(lat_arr)
    span = max(last_receive - t0_wall, 1e-9)
    quantiles = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    return {
        "clients": n,
        "lost_sockets": lost,
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
        "cpu_pct": cpu,
        "cpu_us_per_delivery": per_delivery_us,
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
        "--server-ws",
        choices=["websockets", "websockets-sansio"],
        default="websockets-sansio",
        help="uvicorn's websocket implementation (--ws; production: websockets-sansio)",
    )
    parser.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="processes the receiving clients are spread over",
    )
    parser.add_argument(
        "--server-deflate",
        choices=["on", "off"],
        default="off",
        help="uvicorn's permessage-deflate (off in production; browsers offer it, and so do "
        "these clients when it is on)",
    )
    args = parser.parse_args()
    if max(args.clients) > 5000 or args.duration > 300 or args.rate > 100:
        parser.error("bounded: at most 5000 clients, 300 s, 100 msg/s")
    if not 1 <= args.client_procs <= 8:
        parser.error("--client-procs: 1 to 8")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    import redis

    REDIS_PID.append(redis.Redis.from_url(args.redis).info("server")["process_id"])
    recreate_database(args.database)
    flush_redis(args.redis)
    data = Path(tempfile.mkdtemp(prefix="bench-channels-"))
    env = server_env(data, database_url=args.database, redis_url=args.redis)
    print("migrating and seeding ...", flush=True)
    manage(env, "migrate", "--noinput")
    seeded = seed(env, {"member_count": max(args.clients) + 1})
    deflate = args.server_deflate == "on"
    servers = [
        Server(env, log_path=data / f"uvicorn{i}.log", ws=args.server_ws, deflate=deflate)
        for i in (1, 2)
    ]
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(f"2 uvicorn processes, Redis {args.redis}, PostgreSQL {args.database}")
        print(
            f"one sender at {args.rate:g} msg/s for {args.duration:g} s, "
            f"server permessage-deflate {args.server_deflate}, uvicorn --ws {args.server_ws}, "
            f"receivers in {args.client_procs} client processes (uvloop)"
        )
        print("load average before: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()))
        header = (
            f"{'N':>6} {'delivered':>15} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'deliv/s':>9} {'connect s':>10} {'settle s':>9} {'peak RSS MiB (2 procs)':>24}"
        )
        print(header)
        for n in args.clients:
            flush_redis(args.redis)
            result = asyncio.run(
                run_once(servers, seeded, n, args.rate, args.duration, args.client_procs, deflate)
            )
            rss = " + ".join(f"{v:.0f}" for v in result["peak_rss_mib"].values())
            print(
                f"{n:>6} {result['delivered']:>7}/{result['expected']:<7} "
                f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['max_ms']:>8.1f} "
                f"{result['deliveries_per_s']:>9.0f} {result['connect_s']:>10.1f} "
                f"{result['settle_s']:>9.1f} {rss:>24}",
                flush=True,
            )
            print(
                "       CPU % of one core while sending: "
                + ", ".join(f"{k} {v:.0f}" for k, v in result["cpu_pct"].items())
            )
            print(
                "       CPU time per delivery: "
                + ", ".join(f"{k} {v:.0f} µs" for k, v in result["cpu_us_per_delivery"].items())
            )
            print(f"       sender's ack (stored) p50 {result['ack_p50_ms']:.1f} ms")
            if result["lost_sockets"]:
                print(f"  {result['lost_sockets']} client sockets closed during the run")
            if result["acked"] != result["sent"]:
                print(f"  only {result['acked']} of {result['sent']} sends acknowledged")
        print("\nload average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
