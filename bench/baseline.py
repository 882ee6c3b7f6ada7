"""The baseline route of bench/signing.py: one INSERT through the full stack.

It exists only when settings.BENCHMARK_ROUTES is on (environment variable
BENCHMARK_ROUTES=true), which no deployment sets: organizing/urls.py adds
`urlpatterns` below only then. The benchmark compares the signing endpoints
with this view, which goes through the same server, middleware and database
connection handling and does the least a write can do: parse a small JSON
body and INSERT one row into `bench_baseline`, a table the benchmark creates
itself (`baseline_table_create`), so the product has no model for it.
"""

from __future__ import annotations

import json

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

TABLE = "bench_baseline"
PAYLOAD_MAX = 200


def baseline_table_create() -> None:
    """Create the (empty) baseline table; called by the benchmark, not migrations."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        if connection.vendor == "postgresql":
            key = "id bigserial PRIMARY KEY"
        else:
            key = "id integer PRIMARY KEY AUTOINCREMENT"
        cursor.execute(f"CREATE TABLE {TABLE} ({key}, payload text NOT NULL)")


def baseline_row_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 - constant table name
        return cursor.fetchone()[0]


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@csrf_exempt
def baseline_insert(request):
    """POST {"payload": "..."} -> 201 after one INSERT."""
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Use POST.")
        response["Allow"] = "POST"
        return response
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("payload"), str):
        return _error(400, "bad_request", "Send a JSON object with a text “payload”.")
    payload = data["payload"][:PAYLOAD_MAX]
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (payload) VALUES (%s)", [payload])  # noqa: S608
    except DatabaseError:
        return _error(503, "not_ready", "The benchmark table does not exist: run bench/signing.py.")
    return JsonResponse({"status": "created"}, status=201)


urlpatterns = [path("bench/insert", baseline_insert, name="bench_baseline_insert")]
