"""Nothing accepted is lost: the web process and the Celery worker are killed
(SIGKILL) between acceptance and seal, restarted, and the batch then seals
with every accepted signature in it. Real processes, as the Procfile starts
them, against PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.signatures.helpers import SigningClient
from tests.support.production import (
    BASE_DIR,
    http_get,
    production_command,
    send_to_the_worker,
)
from tests.support.services import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SIGNERS = 5

SET_UP = """
import json
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
letter = open_letter(slug="crash-test")
letter.campaign.batch_min = %d
letter.campaign.batch_interval = 1
letter.campaign.save()
codes = invite_codes_create(actor=None, campaign=letter.campaign, count=%d)
print(json.dumps(codes))
"""


class Answer:
    def __init__(self, status: int, body: bytes):
        self.status_code = status
        self.content = body

    def json(self):
        return json.loads(self.content)


class HttpClient:
    """What SigningClient needs of Django's test client, over real HTTP."""

    def __init__(self, base: str):
        self.base = base

    def _open(self, request) -> Answer:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read())

    def get(self, path: str) -> Answer:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data, content_type: str) -> Answer:
        body = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Content-Type": content_type}
        )
        return self._open(request)


def start_web_and_worker(stack, port: int) -> None:
    for name, values in (("web", {"bind": f"127.0.0.1:{port}"}), ("worker", {})):
        env, words = production_command(name, **values)
        stack.start(name, *words, env=env)
    stack.wait_for("web", lambda: http_get(f"http://127.0.0.1:{port}/healthz"), "/healthz")
    stack.wait_for("worker", lambda: " ready." in stack.output("worker"), "the worker ready")


def kill(stack, name: str) -> None:
    process, _log = stack.processes[name]
    os.killpg(process.pid, 9)
    process.wait(timeout=20)


def test_killed_processes_lose_no_accepted_signature(stack):
    set_up = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SET_UP % (SIGNERS, SIGNERS)],
        cwd=BASE_DIR,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert set_up.returncode == 0, set_up.stderr
    codes = json.loads(set_up.stdout.strip().splitlines()[-1])
    port = free_port()
    start_web_and_worker(stack, port)
    client = HttpClient(f"http://127.0.0.1:{port}")

    receipts = []
    for i, code in enumerate(codes):
        api = SigningClient(client, "crash-test")
        token = api.token({"type": "invite_code", "code": code})
        status, body = api.sign(token, pseudonym=f"Signer {i}")
        assert status == 201 and body["status"] == "pending", body
        receipts.append(body["receipt"])

    # Between acceptance and seal: both processes die without a chance to
    # clean up, and come back.
    kill(stack, "web")
    kill(stack, "worker")
    start_web_and_worker(stack, port)

    def statuses():
        return [
            client.post(
                "/api/v1/receipts/status", json.dumps({"receipt": r}), "application/json"
            ).json()
            for r in receipts
        ]

    assert [answer["status"] for answer in statuses()] == ["pending"] * SIGNERS
    send_to_the_worker("signatures.seal_batches")

    def all_counted():
        answers = statuses()
        return answers if all(a["status"] == "counted" for a in answers) else None

    answers = stack.wait_for("worker", all_counted, "every accepted signature counted")
    assert {a["log"]["tree_size"] for a in answers} == {SIGNERS + 1}
    assert sorted(a["log"]["index"] for a in answers) == list(range(1, SIGNERS + 1))
    letter = client.get("/api/v1/letters/crash-test").json()
    assert letter["count"] == SIGNERS
