"""Signing endpoints in CPU instructions per request, counted by valgrind.

bench/signing.py measures rates, and on a shared machine its rates (and its
redemption/baseline ratio) swing with the neighbours' load by tens of per
cent between rounds. This script counts what does not swing: the user-space
instructions one web worker executes per request, for the baseline route,
redemption and invite-code issuance, under `valgrind --tool=callgrind`.
The same code and inputs give the same counts to a fraction of a per cent,
whatever else the machine is doing, so a change to the signing path can be
judged by one run.

What is counted: the Django application of the production set-up
(config.wsgi, DEBUG off, PostgreSQL with persistent connections, Redis)
called in-process as gunicorn's sync worker calls it, request after
request. What is not: gunicorn's own HTTP parsing, the kernel (sockets),
PostgreSQL's backend and the load generator, which bench/signing.py's CPU
columns cover. So the ratio here is the worker's share of the cost only.

Method: for each endpoint, two runs under callgrind that differ only in the
number of measured requests (after the same warm-up); the difference of
their totals divided by the difference of requests is the cost of one
request, start-up and warm-up cancelled out. Each run uses request bodies
of its own (prepared, untimed, before any run), so every token is spent and
every invite code used once. The breakdown by shared object names where the
instructions go: OpenSSL inside `cryptography` (RSA-PSS verification), GMP
(blind signing), the Python interpreter, psycopg and libpq.

With `--parts N`, one more run counts the redemption's steps one by one
(the letter and its statements, parsing, base64url, text checks, token
checks, verification, hashes, the INSERT's conditions, the INSERT, the
response), each called N times in a loop on real request bodies, beside the
baseline's INSERT and response.

Usage (from the repository root; PostgreSQL and Redis on 127.0.0.1)::

    apt-get install valgrind    # once
    .venv/bin/python bench/signing_instructions.py [--requests 60,240] [--parts 300]

It uses the database organizing_bench_instructions (dropped and re-created)
and empties Redis database 10 (or the one given with --redis-url); it takes
about 5 minutes on 2 cores (valgrind runs Python about 50 times slower).
Results go in docs/benchmarks.md ("Signing").
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path[:0] = [str(REPO_ROOT), str(BENCH_DIR)]

import signing as rates  # noqa: E402 - bench/signing.py: fixture and body helpers

DB_NAME = "organizing_bench_instructions"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/10"
WARM_UP = 20
ENDPOINTS = ("baseline", "redemption", "issuance")

# Shared objects, by the start of their file name, and what they do here.
OBJECT_GROUPS = [
    ("_rust.abi3", "OpenSSL in cryptography (RSA-PSS verify)"),
    ("libgmp", "GMP (blind signing)"),
    ("gmpy2", "GMP (blind signing)"),
    ("libpython", "Python interpreter"),
    ("_psycopg", "psycopg and libpq"),
    ("libpq", "psycopg and libpq"),
    ("pq.", "psycopg and libpq"),
]


def environment(data_dir: str, redis_url: str = REDIS_URL) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "bench-instructions-" + "k" * 40,
            "DEBUG": "false",
            "BENCHMARK_ROUTES": "true",
            "DATA_DIR": data_dir,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONHASHSEED": "0",  # the same dict layouts in every run
        }
    )
    return env


# --- preparation (parent process, not counted) ---------------------------------------


def prepare(work: Path, runs: list[int], redis_url: str) -> None:
    """Database, letter and one file of request bodies per endpoint and run."""
    rates.reset_services(DB_NAME, redis_url)
    python = str(rates.VENV_BIN / "python")
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO_ROOT, check=True)
    import django

    django.setup()
    from bench.baseline import baseline_table_create
    from letters.models import Letter
    from signatures import blindrsa, keys
    from signatures.models import IssuerKey

    baseline_table_create()
    fixture = rates.prepare_letter()
    letter = Letter.objects.get(slug=fixture.slug)
    issuer = keys.loaded_issuer_key(IssuerKey.objects.get(letter=letter))
    for index, count in enumerate(runs):
        needed = WARM_UP + count
        baseline = [
            json.dumps({"payload": f"row {i} {secrets.token_hex(8)}"}) for i in range(needed)
        ]
        issuance, redemption = [], []
        for prepared, blinded, inv, code in rates.blinded_requests(fixture, 2 * needed):
            if len(issuance) < needed:
                issuance.append(rates.token_body(blinded, code))
                continue
            signature = blindrsa.finalize(
                fixture.public_key, prepared, blindrsa.blind_sign(issuer, blinded), inv
            )
            redemption.append(rates.redemption_body(fixture, prepared, signature, len(redemption)))
        bodies = {"baseline": baseline, "issuance": issuance, "redemption": redemption}
        for endpoint in ENDPOINTS:
            path = work / f"{endpoint}-{index}.json"
            path.write_text(json.dumps({"slug": fixture.slug, "bodies": bodies[endpoint]}))


# --- one counted run (child process, under valgrind) ---------------------------------


def child(endpoint: str, bodies_file: str, count: int) -> None:
    import django

    django.setup()
    from config.wsgi import application

    data = json.loads(Path(bodies_file).read_text())
    path = {
        "baseline": "/bench/insert",
        "redemption": f"/api/v1/letters/{data['slug']}/signatures",
        "issuance": f"/api/v1/letters/{data['slug']}/tokens",
    }[endpoint]
    expected = {"baseline": "201", "redemption": "201", "issuance": "200"}[endpoint]
    bodies = iter(data["bodies"])

    def call() -> None:
        body = next(bodies).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        statuses = []
        response = application(
            environ, lambda status, headers, exc_info=None: statuses.append(status)
        )
        b"".join(response)
        response.close()
        if not statuses[0].startswith(expected):
            raise SystemExit(f"{endpoint}: {statuses[0]}")

    for _ in range(WARM_UP):
        call()
    for _ in range(count):
        call()


# --- the redemption in parts (child process, under valgrind) ---------------------------

PARTS_MARK = "getppid"  # valgrind dumps its counters before each call (--dump-before)


def parts_child(bodies_file: str, count: int) -> None:
    """The redemption's steps, each in a loop of `count`, with the baseline's
    INSERT and response for comparison; os.getppid() between the loops
    makes callgrind dump the counters, one file per loop. The steps call the
    functions that signatures.services.redemption.signature_create calls, with the
    inputs of real request bodies (precomputed, so that each loop holds its
    step only)."""
    import django

    django.setup()
    import hmac
    import uuid

    from django.db import connection
    from django.http import JsonResponse
    from django.test import RequestFactory

    from signatures import api, blindrsa, keys
    from signatures.guarded_insert import (
        insert_row,
        open_letter_condition,
        statements_condition,
        token_unsealed_condition,
    )
    from signatures.models import (
        COMMENT_MAX,
        GROUP_MAX,
        NAME_MAX,
        PSEUDONYM_MAX,
        Attestation,
        PendingSignature,
    )
    from signatures.services import common
    from signatures.services.redemption import parse_token

    data = json.loads(Path(bodies_file).read_text())
    raw = data["bodies"][:count]
    bodies = [json.loads(body) for body in raw]
    request = RequestFactory().post("/")
    letter = api.load_letter(request, data["slug"])
    key = keys.loaded_issuer_key(common.issuer_row(letter))
    tokens = [common.b64url_decode(b["token"], field="token") for b in bodies]
    signatures = [common.b64url_decode(b["signature"], field="signature") for b in bodies]
    affirmed = sorted(bodies[0]["attestations"])
    rows = [
        {
            "id": uuid.uuid4(),
            "letter_id": letter.pk,
            "token_hash": common.sha256_hex(token),
            "token": token,
            "signature": signature,
            "receipt_hash": common.sha256_hex(secrets.token_urlsafe(32)),
            "pseudonym": body["pseudonym"],
            "public_name": "",
            "reveal_at": None,
            "department": "",
            "location": "",
            "comment": "",
            "attestations": affirmed,
        }
        for token, signature, body in zip(tokens, signatures, bodies, strict=True)
    ]

    def conditions(i):  # as signature_create builds them
        return [
            open_letter_condition(letter, visibility_key=""),
            statements_condition(letter, affirmed),
            token_unsealed_condition(letter, rows[i]["token_hash"]),
        ]

    built = [conditions(i) for i in range(len(rows))]

    def text_fields(body):  # as signature_create checks them
        clean = common.clean_text
        clean(body["pseudonym"], field="pseudonym", max_len=PSEUDONYM_MAX, required=True)
        clean(body.get("public_name"), field="public_name", max_len=NAME_MAX)
        clean(body.get("department"), field="department", max_len=GROUP_MAX)
        clean(body.get("location"), field="location", max_len=GROUP_MAX)
        clean(body.get("comment"), field="comment", max_len=COMMENT_MAX, multiline=True)

    def token_checks(i):
        text_hash, _nonce = parse_token(tokens[i])
        hmac.compare_digest(text_hash, bytes.fromhex(letter.text_hash))
        return int.from_bytes(signatures[i], "big") >= key.n

    def baseline_insert(i):
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_baseline (payload) VALUES (%s)", [f"row {i}"])

    steps = [
        lambda i: api.load_letter(request, data["slug"]),
        lambda i: list(
            Attestation.objects.filter(campaign_id=letter.campaign_id, active=True).values_list(
                "id", flat=True
            )
        ),
        lambda i: json.loads(raw[i]),
        lambda i: [
            common.b64url_decode(bodies[i][name], field=name) for name in ("token", "signature")
        ],
        lambda i: text_fields(bodies[i]),
        token_checks,
        lambda i: blindrsa.verify(key.public_key, tokens[i], signatures[i]),
        lambda i: (
            secrets.token_urlsafe(32),
            uuid.uuid4(),
            common.sha256_hex(tokens[i]),
            common.sha256_hex("r" * 43),
        ),
        conditions,
        lambda i: insert_row(
            PendingSignature, rows[i], only_if=built[i], unless_exists=common.SPENT_TOKEN_KEY
        ),
        lambda i: JsonResponse(
            {"id": str(rows[i]["id"]), "receipt": "r" * 43, "status": "pending"}, status=201
        ),
        baseline_insert,
        lambda i: JsonResponse({"status": "created"}, status=201),
        lambda i: None,
    ]
    os.getppid()
    for step in steps:
        for i in range(count):
            step(i)
        os.getppid()


REDEMPTION_PARTS = [
    "the letter (api.load_letter, ORM)",
    "the active statements' ids (ORM)",
    "JSON body (json.loads)",
    "base64url: token and signature",
    "five text fields (clean_text)",
    "token layout, text hash, signature < n",
    "RSA-PSS verify (blindrsa.verify)",
    "receipt, id and two SHA-256",
    "the INSERT's three conditions (SQL text)",
    "guarded INSERT of the waiting row (insert_row)",
    "201 response (JsonResponse)",
    "baseline: INSERT (cursor.execute)",
    "baseline: 201 response (JsonResponse)",
    "an empty loop step",
]


def counted_parts(bodies_file: Path, count: int, work: Path, env) -> list[float]:
    """Instructions per step of parts_child, in REDEMPTION_PARTS order."""
    out = work / "callgrind.parts.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--dump-before={PARTS_MARK}",
        f"--callgrind-out-file={out}",
        str(rates.VENV_BIN / "python"),
        __file__,
        "--parts-child",
        str(bodies_file),
        str(count),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"parts run failed:\n{result.stderr[-3000:]}")
    # Dump 1 ends at the first mark (start-up); dump 2 + k holds step k.
    totals = []
    for number in range(2, len(REDEMPTION_PARTS) + 2):
        text = Path(f"{out}.{number}").read_text()
        totals.append(int(re.search(r"^totals: (\d+)", text, re.MULTILINE).group(1)) / count)
    return totals


# --- counting --------------------------------------------------------------------------


def counted_run(endpoint: str, bodies_file: Path, count: int, work: Path, env) -> dict[str, int]:
    """Instructions by shared object (and "total") of one run under callgrind."""
    out = work / f"callgrind.{endpoint}.{count}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        str(rates.VENV_BIN / "python"),
        __file__,
        "--child",
        endpoint,
        str(bodies_file),
        str(count),
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{endpoint} run failed:\n{result.stderr[-3000:]}")
    return by_object(out)


def by_object(callgrind_out: Path) -> dict[str, int]:
    """Exclusive instruction counts summed by shared object, plus "total"."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(callgrind_out)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not match:
            continue
        value, name = int(match.group(1).replace(",", "")), match.group(2)
        if name.startswith("PROGRAM TOTALS"):
            counts["total"] = value
            continue
        shared_object = re.search(r"\[([^\]]*)\]\s*$", name)
        key = Path(shared_object.group(1)).name if shared_object else "?"
        counts[key] = counts.get(key, 0) + value
    return counts


def group_of(shared_object: str) -> str:
    for prefix, group in OBJECT_GROUPS:
        if shared_object.startswith(prefix):
            return group
    return "other"


def per_request(small: dict[str, int], large: dict[str, int], requests: int) -> dict[str, float]:
    groups: dict[str, float] = {}
    for key in set(small) | set(large):
        name = "total" if key == "total" else group_of(key)
        groups[name] = groups.get(name, 0.0) + (large.get(key, 0) - small.get(key, 0)) / requests
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests",
        default="60,240",
        help="measured requests of the two runs per endpoint (after a warm-up of 20)",
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help="which of baseline, redemption, issuance to count (the baseline always)",
    )
    parser.add_argument(
        "--parts",
        type=int,
        default=0,
        metavar="N",
        help="also count the redemption's steps one by one, each N times",
    )
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help="the Redis database to use; it is emptied first (default: %(default)s)",
    )
    parser.add_argument("--child", nargs=3, metavar=("ENDPOINT", "BODIES", "COUNT"))
    parser.add_argument("--parts-child", nargs=2, metavar=("BODIES", "COUNT"))
    args = parser.parse_args()
    if args.child:  # a counted run, started below under valgrind
        endpoint, bodies_file, count = args.child
        child(endpoint, bodies_file, int(count))
        return
    if args.parts_child:
        bodies_file, count = args.parts_child
        parts_child(bodies_file, int(count))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    work = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    env = environment(str(work / "data"), args.redis_url)
    small, large = (int(value) for value in args.requests.split(","))
    endpoints = ["baseline"] + [
        e for e in ENDPOINTS if e != "baseline" and e in args.endpoints.split(",")
    ]
    try:
        os.environ.update(env)
        print(f"Preparing {DB_NAME} and request bodies ...", flush=True)
        prepare(work, [small, large, args.parts] if args.parts else [small, large], args.redis_url)

        jobs = [
            (endpoint, index, count)
            for endpoint in endpoints
            for index, count in enumerate((small, large))
        ]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            futures = {
                job: pool.submit(
                    counted_run, job[0], work / f"{job[0]}-{job[1]}.json", job[2], work, env
                )
                for job in jobs
            }
            if args.parts:
                parts = pool.submit(
                    counted_parts, work / "redemption-2.json", args.parts, work, env
                )
            results = {job: future.result() for job, future in futures.items()}
            part_costs = parts.result() if args.parts else []
    finally:
        shutil.rmtree(work, ignore_errors=True)

    costs = {
        endpoint: per_request(
            results[(endpoint, 0, small)], results[(endpoint, 1, large)], large - small
        )
        for endpoint in endpoints
    }
    groups = sorted({g for cost in costs.values() for g in cost} - {"total"})
    print(f"\nInstructions per request (thousands), one worker, from {small} and {large} requests:")
    print(f"{'':44}" + "".join(f"{e:>12}" for e in endpoints))
    print(f"{'total':44}" + "".join(f"{costs[e]['total'] / 1000:12.0f}" for e in endpoints))
    for group in groups:
        print(
            f"  {group:42}" + "".join(f"{costs[e].get(group, 0) / 1000:12.0f}" for e in endpoints)
        )
    baseline = costs["baseline"]["total"]
    for endpoint in endpoints[1:]:
        print(f"{endpoint} / baseline: {costs[endpoint]['total'] / baseline:.3f}")
    if part_costs:
        print(f"\nThe redemption's steps, thousands of instructions per call ({args.parts} calls):")
        for name, cost in zip(REDEMPTION_PARTS, part_costs, strict=True):
            print(f"  {name:54}{cost / 1000:8.1f}")


if __name__ == "__main__":
    main()
