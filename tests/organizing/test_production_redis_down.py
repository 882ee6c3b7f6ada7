"""The production processes with Redis unreachable: gunicorn and uvicorn on a
freshly migrated PostgreSQL database, REDIS_URL pointing at a port where
nothing listens (docs/operations.md, "When Redis is down").

What rests on the database keeps working (the letter's pages and API, token
issuance with an invite code, redemption, receipts); what needs Redis
answers 503 with Retry-After (email codes as JSON, logging in as a page); a
websocket is refused with a close code. No server logs a traceback.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as websocket_connect

from discussions.consumers import CLOSE_UNAVAILABLE
from tests.signatures.helpers import SigningClient
from tests.support.production import BASE_DIR, Stack, admin_connection, http_get
from tests.support.services import free_port

pytestmark = pytest.mark.postgres

SLUG = "stop-keystroke-logging"  # the demo's open letter (seed_demo)


@dataclass
class Reply:
    """Enough of a Django test response for tests.signatures.helpers."""

    status_code: int
    headers: object
    content: bytes

    def json(self):
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


class HttpClient:
    """GET and POST against a real server, keeping cookies; closes every
    connection (an open one would be a ResourceWarning, an error here)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, path: str, data: bytes | None = None, content_type: str = "") -> Reply:
        headers = {"Host": "127.0.0.1"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=10) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return Reply(exc.code, exc.headers, exc.read())

    def get(self, path: str) -> Reply:
        return self.request(path)

    def post(self, path: str, data, content_type: str) -> Reply:
        body = data if isinstance(data, bytes) else data.encode()
        return self.request(path, body, content_type)

    def post_json(self, path: str, payload: dict) -> Reply:
        return self.post(path, json.dumps(payload), "application/json")


@pytest.fixture
def redis_down_stack(tmp_path):
    """(processes, the demo's invite codes): a migrated, seeded database of
    its own, and an environment whose REDIS_URL leads nowhere."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_redis_down"
    database_url = (
        f"postgresql://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
        f"@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATA_DIR": str(tmp_path / "data"),
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DEBUG": "false",
        "LOG_LEVEL": "INFO",
    }
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    running = Stack(tmp_path, env)
    try:
        for command in (["migrate", "--noinput"], ["seed_demo"]):
            done = subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        codes = re.findall(r"^\s+([0-9A-Z]{4}(?:-[0-9A-Z]{4}){3})$", done.stdout, re.M)
        yield running, codes
    finally:
        running.stop()
        with admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_production_processes_with_redis_unreachable(redis_down_stack, tmp_path):
    stack, invite_codes = redis_down_stack
    assert invite_codes
    http_port, ws_port = free_port(), free_port()
    gunicorn = (
        f"gunicorn config.wsgi:application --bind 127.0.0.1:{http_port}"
        " --workers 2 --worker-class sync"
    )
    stack.start("gunicorn", *gunicorn.split())
    uvicorn = (
        f"uvicorn config.asgi:application --host 127.0.0.1 --port {ws_port} --no-access-log"
        " --lifespan off --ws websockets-sansio --ws-per-message-deflate false"
    )
    stack.start("uvicorn", *uvicorn.split())
    base = f"http://127.0.0.1:{http_port}"
    stack.wait_for("gunicorn", lambda: http_get(base + "/healthz").status == 200, "/healthz")
    client = HttpClient(base)

    # Pages and API that read the database.
    for path in (f"/letters/{SLUG}/", f"/letters/{SLUG}/sign/", f"/letters/{SLUG}/signatures/"):
        assert client.get(path).status_code == 200, path
    detail = client.get(f"/api/v1/letters/{SLUG}")
    assert detail.status_code == 200
    attestations = [a["id"] for a in detail.json()["attestations"]]

    # Signing with an invite code: issuance, redemption, receipt.
    api = SigningClient(client, SLUG)
    token = api.token({"type": "invite_code", "code": invite_codes[0]})
    status, body = api.sign(token, pseudonym="Quiet Heron", attestations=attestations)
    assert status == 201, body
    receipt = client.post_json("/api/v1/receipts/status", {"receipt": body["receipt"]})
    # Production batches signatures: accepted, waiting for its batch.
    assert receipt.status_code == 200 and receipt.json()["status"] == "pending"
    # Beat cannot run without Redis; the operator's command seals it anyway.
    sealed = subprocess.run(
        [sys.executable, "manage.py", "seal_batches", SLUG, "--now"],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed 1 signature(s)" in sealed.stdout
    receipt = client.post_json("/api/v1/receipts/status", {"receipt": body["receipt"]})
    assert receipt.status_code == 200 and receipt.json()["status"] == "counted"
    assert client.get(f"/api/v1/letters/{SLUG}").json()["count"] == 1

    # Email codes pause: 503 JSON with Retry-After, nothing sent.
    codes = client.post_json(f"/api/v1/letters/{SLUG}/email-codes", {"email": "ann@example.com"})
    assert codes.status_code == 503
    assert int(codes["Retry-After"]) > 0
    assert codes.json()["error"] == "unavailable" and codes.json()["message"]
    assert not list((tmp_path / "mail").glob("*"))

    # Logging in: the page shows; signing in pauses with the 503 page.
    login = client.get("/accounts/login/")
    assert login.status_code == 200
    token_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', login.content)
    answer = client.post(
        "/accounts/login/",
        urlencode(
            {
                "csrfmiddlewaretoken": token_field.group(1).decode(),
                "login": "organizer@demo.invalid",
                "password": "demo-organizer-pass",
            }
        ),
        "application/x-www-form-urlencoded",
    )
    assert answer.status_code == 503
    assert int(answer["Retry-After"]) > 0
    assert b"Unavailable for a moment" in answer.content

    # The websocket is refused with a close code and a message.
    def refused():
        with websocket_connect(
            f"ws://127.0.0.1:{ws_port}/ws/channels/1/",
            origin=f"http://127.0.0.1:{ws_port}",
            open_timeout=10,
        ) as socket:
            frame = json.loads(socket.recv(timeout=10))
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        return frame, closed.value.rcvd.code

    frame, code = stack.wait_for("uvicorn", refused, "a refused websocket")
    assert frame["type"] == "error" and frame["code"] == "unavailable"
    assert code == CLOSE_UNAVAILABLE

    stack.stop()
    for name in ("gunicorn", "uvicorn"):
        output = stack.output(name)
        assert "Traceback" not in output, output[-3000:]
        assert "Internal Server Error" not in output, output[-3000:]
