"""The production run's processes, started by tests as production starts
them (the Procfile's commands) against a fresh PostgreSQL database and
Redis: tests/organizing/test_production_run.py and the batch crash test."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
# Next to the database the tests were given, so that test runs against other
# databases of the same server do not drop each other's.
DB_NAME = f"{settings.DATABASES['default']['NAME']}_prodrun"
WAIT = 90  # seconds: an upper bound for start-up on a slow CI machine, not a measurement


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

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=BASE_DIR,
            env={**self.env, **(env or {})},
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
            "DJANGO_SETTINGS_MODULE": "config.settings",
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


def production_command(name: str, **values: str) -> tuple[dict[str, str], list[str]]:
    """The Procfile's command for process `name`: the variables it sets and its
    words, with the values of the options named replaced (`port="1234"` for
    `--port`), so that these tests run exactly what production runs."""
    for line in (BASE_DIR / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}:"):
            words = shlex.split(line.removeprefix(f"{name}:"))
            break
    else:
        raise AssertionError(f"the Procfile has no {name!r} process")
    env = {}
    while "=" in words[0]:
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    for option, value in values.items():
        words[words.index(f"--{option}") + 1] = value
    return env, words


def send_to_the_worker(task_name: str, *args) -> None:
    """Send a task through Redis (the tests otherwise run tasks eagerly)."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        celery_app.send_task(task_name, args=args)
    finally:
        celery_app.conf.task_always_eager = eager


def option_value(words: list[str], option: str) -> int:
    return int(words[words.index(option) + 1])


def start_production(stack: Stack, http_port: int, ws_port: int) -> dict[str, int]:
    """Start the web, ws and worker processes of the Procfile; return each
    one's connection budget (docs/operations.md) by its application_name."""
    budget = {}
    for name, values, count_option in (
        ("web", {"bind": f"127.0.0.1:{http_port}"}, "--workers"),
        ("ws", {"port": str(ws_port)}, "--workers"),
        ("worker", {}, "--concurrency"),
    ):
        env, words = production_command(name, **values)
        stack.start(name, *words, env=env)
        budget[env["DATABASE_APPLICATION_NAME"]] = option_value(words, count_option)
    stack.wait_for("web", lambda: http_get(f"http://127.0.0.1:{http_port}/healthz"), "/healthz")
    stack.wait_for("ws", lambda: http_get(f"http://127.0.0.1:{ws_port}/healthz"), "/healthz")
    stack.wait_for("worker", lambda: " ready." in stack.output("worker"), "the worker ready")
    return budget
