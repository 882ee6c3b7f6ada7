"""The production run, for real: gunicorn (sync workers) for HTTP, uvicorn for
/ws/, a Celery worker and Celery beat, as separate processes against a
freshly migrated PostgreSQL database and Redis (docs/operations.md).

Attacked with the Procfile's own commands: an anonymous burst must not make
any process hold more database connections than its budget, and malformed
requests must not put a client's address in any process's log."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import cache
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import ConnectionClosed

from tests.support.production import (
    DB_NAME,
    WAIT,
    admin_connection,
    http_get,
    send_to_the_worker,
    start_production,
    websocket_handshake,
)
from tests.support.services import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_gunicorn_uvicorn_celery_worker_and_beat(stack, tmp_path):
    from config.celery import app
    from organizing.tasks import ping

    http_port, ws_port = free_port(), free_port()
    stack.start(
        "gunicorn",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{http_port}",
        "--workers",
        "2",
        "--worker-class",
        "sync",
    )
    stack.start(
        "uvicorn",
        "uvicorn",
        "config.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(ws_port),
        "--no-access-log",
        "--lifespan",
        "off",
        "--ws",
        "websockets-sansio",
        "--ws-per-message-deflate",
        "false",
    )
    stack.start(
        "worker",
        "celery",
        "-A",
        "organizing",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--max-memory-per-child",
        "500000",
    )
    stack.start(
        "beat",
        "celery",
        "-A",
        "organizing",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(tmp_path / "beat-schedule"),
    )

    # HTTP over gunicorn: the home page with its security headers, and static files.
    base = f"http://127.0.0.1:{http_port}"
    home = stack.wait_for("gunicorn", lambda: http_get(base + "/"), "an answer on /")
    assert home.status == 200
    body = home.body
    assert "<main" in body
    headers = home.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in headers["Permissions-Policy"]
    login = http_get(base + "/accounts/login/")
    assert login.status == 200  # a page that reads the (migrated) database
    static = http_get(base + "/static/css/app.css")
    assert static.status == 200
    assert http_get(base + "/no-such-page/").status == 404

    # Websockets at the ASGI server: it answers the upgrade (an unauthenticated
    # socket is refused by the consumer with 403, or accepted and then closed).
    status_line = stack.wait_for(
        "uvicorn", lambda: websocket_handshake(ws_port, "/ws/channels/1/"), "a handshake answer"
    )
    assert status_line.split()[1] in ("101", "403"), status_line

    # The Celery worker runs a real task sent through Redis.
    nonce = uuid.uuid4().hex
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        ping.delay(nonce)
    finally:
        app.conf.task_always_eager = eager
    stack.wait_for("worker", lambda: cache.get(f"ping:{nonce}") == "pong", "the ping task run")
    assert "organizing.ping" in stack.output("worker")

    # Beat starts and sends its scheduled tasks, which the worker receives.
    stack.wait_for("beat", lambda: "beat: Starting" in stack.output("beat"), "beat starting")
    scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
    if scheduled:
        stack.wait_for(
            "worker",
            lambda: any(name in stack.output("worker") for name in scheduled),
            f"one of the scheduled tasks {scheduled}",
        )

    # Log hygiene: no server logged a client address (all requests came from
    # 127.0.0.1 on some ephemeral port; the servers' own listening address is fine).
    for name, port in (("gunicorn", http_port), ("uvicorn", ws_port)):
        for line in stack.output(name).splitlines():
            for found in re.findall(r"127\.0\.0\.1(?::(\d+))?", line):
                assert found == str(port), (name, line)
    stack.stop()
    for name in ("gunicorn", "uvicorn", "worker", "beat"):
        assert stack.processes[name][0].returncode is not None


def test_database_url_points_at_a_real_postgresql():
    """Guard: this file only means something against PostgreSQL."""
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert urlparse(settings.REDIS_URL).scheme in ("redis", "rediss", "unix")


class ConnectionWatch(threading.Thread):
    """Counts the connections to the stack's database per application_name
    every 50 ms and keeps the peaks. `exceeded` is set as soon as a count goes
    over its budget, so that the load stops before it crowds out the other
    users of the (shared) server."""

    def __init__(self, budget: dict[str, int]):
        super().__init__(daemon=True)
        self.budget = budget
        self.peaks: dict[str, int] = {}
        self.exceeded = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        with admin_connection() as conn:
            while not self.done.is_set():
                counts = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity"
                    " WHERE datname = %s GROUP BY application_name",
                    [DB_NAME],
                ).fetchall()
                for name, count in counts:
                    self.peaks[name] = max(self.peaks.get(name, 0), count)
                    if count > self.budget.get(name, 0):
                        self.exceeded.set()
                time.sleep(0.05)

    def stop(self) -> dict[str, int]:
        self.done.set()
        self.join(timeout=10)
        return self.peaks


async def http_burst(port: int, requests: list[bytes], concurrency: int, stop) -> list:
    """Send each raw request on a connection of its own, `concurrency` at a
    time; return the status lines (None for those skipped once `stop` is set)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(request: bytes):
        async with semaphore:
            if stop.is_set():
                return None
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(), WAIT)
            finally:
                writer.close()
                await writer.wait_closed()
            return answer.split(b"\r\n", 1)[0].decode()

    return await asyncio.gather(*(one(request) for request in requests))


async def websocket_burst(port: int, count: int, concurrency: int, stop) -> list:
    """Open `count` websockets to a channel with a made-up session cookie (each
    one makes the server look the session up); return their close codes."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(number: int):
        async with semaphore:
            if stop.is_set():
                return None
            async with websocket_connect(
                f"ws://127.0.0.1:{port}/ws/channels/1/",
                additional_headers={
                    "Cookie": f"sessionid=madeup{number:026d}",
                    "Origin": f"http://127.0.0.1:{port}",
                },
                open_timeout=WAIT,
            ) as websocket:
                try:
                    while True:
                        await asyncio.wait_for(websocket.recv(), WAIT)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd else None

    return await asyncio.gather(*(one(number) for number in range(count)))


def test_database_connections_stay_within_the_budget(stack):
    """An anonymous burst at the websocket server (plain HTTP to /ws/ and to
    pages, with a made-up session cookie, and websockets that look sessions
    up), pages at gunicorn and tasks at the worker: no process holds more
    PostgreSQL connections than docs/operations.md budgets for it."""
    http_port, ws_port = free_port(), free_port()
    budget = start_production(stack, http_port, ws_port)
    watch = ConnectionWatch(budget)
    watch.start()
    for _ in range(20):  # each one queries the database
        send_to_the_worker("organizing.delete_expired_messages")

    def request(path: str, number: int) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: sessionid=madeup{number:026d}\r\nConnection: close\r\n\r\n"
        ).encode()

    paths = ["/ws/channels/1/", "/", "/accounts/login/", "/ws/channels/1/?page=2"]
    at_ws = [request(paths[n % len(paths)], n) for n in range(300)]
    at_web = [request(paths[1 + n % 2], n) for n in range(200)]

    async def load():
        return await asyncio.gather(
            http_burst(ws_port, at_ws, 20, watch.exceeded),
            websocket_burst(ws_port, 100, 20, watch.exceeded),
            http_burst(http_port, at_web, 20, watch.exceeded),
        )

    ws_answers, close_codes, web_answers = asyncio.run(load())
    stack.wait_for(
        "worker",
        lambda: stack.output("worker").count("succeeded") >= 20 or watch.exceeded.is_set(),
        "the tasks run",
    )
    time.sleep(1)  # connections still held after the burst count too
    peaks = watch.stop()

    assert not watch.exceeded.is_set(), f"over the budget {budget}: {peaks}"
    assert set(peaks) <= set(budget), peaks  # every connection is a named process's
    # The load did reach the database, so the counts mean something.
    assert peaks.get("organizing-web", 0) >= 1, peaks
    assert peaks.get("organizing-ws", 0) >= 1, peaks
    # Plain HTTP got the websocket server's short refusal, not Django.
    assert {answer.split(" ", 2)[1] for answer in ws_answers} == {"426"}, set(ws_answers)
    assert set(close_codes) <= {4401, 4403, 4404}, set(close_codes)
    assert {answer.split(" ", 2)[1] for answer in web_answers} == {"200"}, set(web_answers)


# The test's clients connect from this address, the servers listen on
# 127.0.0.1: any 127.0.0.2 in a log is a client's address.
CLIENT_ADDRESS = "127.0.0.2"
# Addresses the requests carry where a server or Django may repeat them.
PLANTED = ("203.0.113.77", "2001:db8::77")
WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

MALFORMED_HTTP = [
    b"GARBAGE\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nnot a header\r\n\r\n",
    b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 10_000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\nZZ\r\n\r\n",
    # Django refuses a Host that is not allowed, and logs it with a traceback.
    b"GET / HTTP/1.1\r\nHost: 203.0.113.77\r\nConnection: close\r\n\r\n",
    b"GET http://203.0.113.77:8000/x HTTP/1.1\r\nHost: [2001:db8::77]:8000\r\n"
    b"Connection: close\r\n\r\n",
    b"GET /203.0.113.77 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.77\r\n"
    b'X-Real-IP: 2001:db8::77\r\nForwarded: for="[2001:db8::77]"\r\nConnection: close\r\n\r\n',
]


def websocket_upgrade(
    path: str = "/ws/channels/1/",
    *,
    host: str = "127.0.0.1",
    key: str = WEBSOCKET_KEY,
    version: str = "13",
    then: bytes = b"",
) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n"
        f"Origin: http://{host}\r\n\r\n"
    ).encode() + then


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


MALFORMED_WEBSOCKET = [
    websocket_upgrade(key="garbage"),
    websocket_upgrade(version="99"),
    websocket_upgrade("/ws/203.0.113.77/"),  # no such route
    websocket_upgrade(host="203.0.113.77"),  # an origin that is not allowed
    websocket_upgrade(then=b"\xff\xff\xff\xff garbage, not a frame"),
    websocket_upgrade(then=masked_frame(0x1, b"\xff\xfe not UTF-8")),
]


def send_from_client_address(port: int, data: bytes) -> int:
    """Send `data` from CLIENT_ADDRESS, read what comes back for a few
    seconds at most; return the client's port."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=3, source_address=(CLIENT_ADDRESS, 0)
    ) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(data)
        try:
            while sock.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass  # a websocket stays open, a server may reset: both are fine here
    return client_port


def client_traces(text: str, client_ports: list[int]) -> list[str]:
    """The lines of `text` with a client's address or port, or a planted address."""
    port_forms = "|".join(rf"(?<!pid):{port}\b|, {port}\)|port={port}\b" for port in client_ports)
    return [
        line
        for line in text.splitlines()
        if any(address in line for address in (CLIENT_ADDRESS, *PLANTED))
        or re.search(port_forms, line)
    ]


def test_no_process_logs_a_client_address(stack):
    """Malformed requests at gunicorn and uvicorn (bad request lines and
    headers, oversized lines, a Host that Django refuses with a traceback,
    broken websocket handshakes and frames), and a malformed task message at
    the worker: no log line of any process names a client's address or port."""
    http_port, ws_port = free_port(), free_port()
    start_production(stack, http_port, ws_port)
    send_to_the_worker("organizing.no_such_task", *PLANTED)
    sends = [(http_port, data) for data in MALFORMED_HTTP]
    sends += [(ws_port, data) for data in MALFORMED_HTTP + MALFORMED_WEBSOCKET]
    with ThreadPoolExecutor(max_workers=8) as pool:
        client_ports = list(pool.map(lambda send: send_from_client_address(*send), sends))

    # Each component did log about what it got, so the search below means something.
    stack.wait_for(
        "web", lambda: "Invalid request from ip=" in stack.output("web"), "gunicorn's complaint"
    )
    stack.wait_for(
        "web", lambda: "Invalid HTTP_HOST header" in stack.output("web"), "Django's complaint"
    )
    stack.wait_for(
        "ws", lambda: "Invalid HTTP request received" in stack.output("ws"), "uvicorn's complaint"
    )
    stack.wait_for(
        "worker", lambda: "unregistered task" in stack.output("worker"), "Celery's complaint"
    )
    stack.stop()  # everything written out

    for name in stack.processes:
        assert client_traces(stack.output(name), client_ports) == [], name
