"""The baseline route of bench/signing.py exists only with BENCHMARK_ROUTES=true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import baseline as benchmark

BASE_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import django, json
django.setup()
from django.conf import settings
from django.urls import Resolver404, resolve
try:
    resolve("/bench/insert")
    routed = True
except Resolver404:
    routed = False
print(json.dumps({
    "flag": settings.BENCHMARK_ROUTES,
    "routed": routed,
    "limits": getattr(settings, "SIGNATURES_RATE_LIMITS", None),
}))
"""


def probe(tmp_path: Path, **env: str) -> dict:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_no_baseline_route_unless_enabled(tmp_path):
    assert probe(tmp_path) == {"flag": False, "routed": False, "limits": None}
    assert probe(tmp_path, BENCHMARK_ROUTES="false")["routed"] is False


def test_benchmark_routes_add_the_baseline_and_raise_rate_limits(tmp_path):
    found = probe(tmp_path, BENCHMARK_ROUTES="true")
    assert found["flag"] is True
    assert found["routed"] is True
    # Raised, not disabled: the rate-limit counter still runs in the benchmark.
    assert set(found["limits"]) == {"email_code", "token", "invite_code", "signature", "receipt"}
    assert all(count >= 10**9 for count, _window in found["limits"].values())


def test_bad_flag_fails_at_start_up(tmp_path):
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "DATA_DIR": str(tmp_path / "data"),
        "BENCHMARK_ROUTES": "maybe",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "BENCHMARK_ROUTES" in result.stderr


@pytest.mark.django_db
def test_the_deployed_url_configuration_has_no_baseline(client, settings):
    assert settings.BENCHMARK_ROUTES is False
    response = client.post("/bench/insert", '{"payload": "x"}', content_type="application/json")
    assert response.status_code == 404
    assert benchmark.baseline_insert not in _views(settings.ROOT_URLCONF)


def _views(urlconf: str) -> set:
    from django.urls import get_resolver

    found = set()

    def walk(patterns):
        for entry in patterns:
            if hasattr(entry, "url_patterns"):
                walk(entry.url_patterns)
            else:
                found.add(entry.callback)

    walk(get_resolver(urlconf).url_patterns)
    return found


# --- the view itself, routed through its own url configuration --------------------


@pytest.fixture
def baseline_table(db):
    benchmark.baseline_table_create()


def post(client, body):
    return client.post("/bench/insert", body, content_type="application/json")


@pytest.mark.urls("bench.baseline")
def test_baseline_inserts_one_row_per_request_for_every_role(baseline_table, roles, client_for):
    for number, (role, user) in enumerate(roles.users().items(), start=1):
        response = post(client_for(user), json.dumps({"payload": f"row of {role}"}))
        assert response.status_code == 201, role
        assert response.json() == {"status": "created"}
        assert benchmark.baseline_row_count() == number


@pytest.mark.urls("bench.baseline")
@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"payload": 3}', "{}", b"\xff\xfe"])
def test_baseline_rejects_bad_bodies_with_400(baseline_table, client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert benchmark.baseline_row_count() == 0


@pytest.mark.urls("bench.baseline")
def test_baseline_truncates_long_payloads(baseline_table, client):
    assert post(client, json.dumps({"payload": "x" * 5000})).status_code == 201
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT payload FROM {benchmark.TABLE}")  # noqa: S608
        assert cursor.fetchone()[0] == "x" * benchmark.PAYLOAD_MAX


@pytest.mark.urls("bench.baseline")
def test_baseline_only_accepts_post(baseline_table, client):
    response = client.get("/bench/insert")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.urls("bench.baseline")
@pytest.mark.django_db
def test_baseline_without_its_table_answers_503(client):
    response = post(client, json.dumps({"payload": "x"}))
    assert response.status_code == 503
    assert response.json()["error"] == "not_ready"
