"""The production run, for real: gunicorn (sync workers) for HTTP, uvicorn for
/ws/, a Celery worker and Celery beat, as separate processes against a
freshly migrated PostgreSQL database and Redis (docs/operations.md)."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import cache

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BASE_DIR = Path(__file__).resolve().parents[2]
DB_NAME = "organizing_prodrun"
WAIT = 90  # seconds: an upper bound for start-up on a slow CI machine, not a measurement


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_connection():
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres",
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
    )


def drop_database() -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


class Stack:
    """Processes started by this test, each with its output in a file."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}

    def start(self, name: str, *args: str) -> None:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=BASE_DIR,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.processes[name] = (process, log)

    def output(self, name: str) -> str:
        return self.processes[name][1].read_text(encoding="utf-8", errors="replace")

    def wait_for(self, name: str, check, what: str):
        """Poll `check()` until it returns something truthy; fail with the
        process's output if it dies or never gets there."""
        process, _log = self.processes[name]
        deadline = time.monotonic() + WAIT
        last_error = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{name} exited ({process.returncode}):\n{self.output(name)[-3000:]}")
            try:
                result = check()
            except OSError as exc:
                last_error = exc
                result = None
            if result:
                return result
            time.sleep(0.25)
        pytest.fail(f"{name}: {what} not seen ({last_error}):\n{self.output(name)[-3000:]}")

    def stop(self) -> None:
        for process, _log in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for name, (process, _log) in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)
            assert process.returncode is not None, name


@pytest.fixture
def stack(tmp_path):
    db = settings.DATABASES["default"]
    database_url = (
        f"postgresql://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
        f"@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{DB_NAME}"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PYTEST_", "CELERY_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "organizing.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATA_DIR": str(tmp_path / "data"),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "false",
            "LOG_LEVEL": "INFO",
        }
    )
    drop_database()
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    running = Stack(tmp_path, env)
    try:
        yield running
    finally:
        running.stop()
        drop_database()


@dataclass
class Answer:
    status: int
    headers: Message
    body: str


def http_get(url: str) -> Answer:
    """GET and read the whole answer, closing the connection (an open one
    would surface as a ResourceWarning, an error under filterwarnings)."""
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our server
            return Answer(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.headers, exc.read().decode(errors="replace"))


def websocket_handshake(port: int, path: str) -> str:
    """Send a websocket upgrade request; return the status line of the answer."""
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def test_gunicorn_uvicorn_celery_worker_and_beat(stack, tmp_path):
    from organizing.celery import app
    from organizing.tasks import ping

    http_port, ws_port = free_port(), free_port()
    stack.start(
        "gunicorn", "gunicorn", "organizing.wsgi:application",
        "--bind", f"127.0.0.1:{http_port}", "--workers", "2", "--worker-class", "sync",
    )  # fmt: skip
    stack.start(
        "uvicorn", "uvicorn", "organizing.asgi:application",
        "--host", "127.0.0.1", "--port", str(ws_port), "--no-access-log", "--lifespan", "off",
        "--ws", "websockets-sansio", "--ws-per-message-deflate", "false",
    )  # fmt: skip
    stack.start(
        "worker", "celery", "-A", "organizing", "worker", "--loglevel", "INFO",
        "--concurrency", "1", "--without-gossip", "--without-mingle",
        "--max-memory-per-child", "500000",
    )  # fmt: skip
    stack.start(
        "beat", "celery", "-A", "organizing", "beat", "--loglevel", "INFO",
        "--schedule", str(tmp_path / "beat-schedule"),
    )  # fmt: skip

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
