"""Signing benchmark: token issuance and redemption over HTTP, against a baseline.

Runs the production server set-up on 127.0.0.1: gunicorn with sync workers
(4 by default, as in the Procfile; without its worker recycling, so that
every worker's CPU is counted) serving config.wsgi, PostgreSQL
(DATABASE_URL, persistent connections), Redis (REDIS_URL), DEBUG off. The
only non-production setting is BENCHMARK_ROUTES=true, which adds the
baseline route /bench/insert (one INSERT through the same server and
middleware, bench/baseline.py) and raises the per-address signing rate
limits (every benchmark request comes from one address; the limits are
raised, not disabled, so issuance still pays for its Redis counter;
redemptions count only failures, and none fail here).

Before anything is timed, the script

- drops and re-creates the database organizing_bench_signing, migrates it,
  collects the static files (as the Procfile's release step does) and
  empties its Redis database (see below);
- opens a letter with its issuer key (two attestations to affirm) and creates
  invite codes with the signatures service;
- prepares and blinds the token messages for the issuance phase, and obtains
  finalized tokens for the redemption phase through real issuance over HTTP.

It then measures, at 32 concurrent connections for a bounded time per phase:
the baseline, redemption (POST /api/v1/letters/<slug>/signatures), the
baseline again and issuance (POST /api/v1/letters/<slug>/tokens with an
invite code); the ratios divide the redemption and issuance rates by the
mean of the two baseline rates measured just before and just after the
redemption (issuance runs right after the second), so that the machine's
drift during a round counts on both sides.
Every request body is used once; after each phase the new database rows are
counted and compared with the successful responses. The summary gives the
median over the rounds (with min-max) and judges the targets on the medians:
a single round whose baseline happened to run slow must not pass them.

The load generator is wrk (Debian: `apt-get install wrk`), driven by a Lua
script that cycles through the pre-generated request bodies; the script
installs nothing. Without wrk it falls back to a Python asyncio client, which
competes with the server for the two cores and so gives lower figures.

Usage (from the repository root; PostgreSQL and Redis on 127.0.0.1)::

    apt-get install wrk    # once; optional (see above)
    .venv/bin/python bench/signing.py [--workers 3,4] [--rounds 5] [--duration 10]

It uses the database organizing_bench_signing (dropped and re-created) and
empties Redis database 8, or the one given with --redis-url.

Each round prints one row per phase: successful requests per second, latency
percentiles (wrk's), successful responses and new rows (they must agree), and
the CPU milliseconds per successful request used by the gunicorn workers
("app cpu") and by their PostgreSQL backends ("db cpu"), plus the load
average. gunicorn's sync workers close the connection after each response, so
every request is a new TCP connection, for the baseline as for the rest. On a
machine shared with other work the rates swing with the load; the CPU per
request is the steadier figure.

The summary also gives full signatures per second, 1 / (1/issuance +
1/redemption): the rate at which the two cores could take people through both
steps. Targets (2 cores, 32 connections), as ratios to the baseline of the
same round: redemption >= 0.7x, issuance >= 0.45x, p99 < 50 ms for both.
Results go in docs/benchmarks.md ("Signing").
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from gmp_build import gmp_build  # bench/gmp_build.py, beside this script

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
DB_NAME = "organizing_bench_signing"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/8"
CAMPAIGN_SLUG = "bench-signing"
LETTER_SLUG = "bench-signing-letter"
# Targets, as ratios to the baseline measured in the same round.
TARGET_REDEMPTION_RATIO = 0.70
TARGET_ISSUANCE_RATIO = 0.45
TARGET_P99_MS = 50.0

WRK_SCRIPT = r"""
-- bench/signing.py: POST pre-generated bodies, each once per thread slice.
-- init(args): args[1] = path, args[2] = file with one JSON body a line,
-- args[3] = number of wrk threads.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, file, nthreads = args[1], args[2], tonumber(args[3])
  local headers = { ["Content-Type"] = "application/json" }
  requests = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == id then
      requests[#requests + 1] = wrk.format("POST", path, headers, line)
    end
    i = i + 1
  end
  cursor = 0
  wrapped = 0
  statuses = {}
end

function request()
  cursor = cursor + 1
  if cursor > #requests then
    cursor = 1
    wrapped = wrapped + 1
  end
  return requests[cursor]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts, wrapped_total = {}, 0
  for _, thread in ipairs(threads) do
    for key, value in pairs(thread:get("statuses")) do
      counts[key] = (counts[key] or 0) + value
    end
    wrapped_total = wrapped_total + thread:get("wrapped")
  end
  local parts = {}
  for key, value in pairs(counts) do
    parts[#parts + 1] = string.format('"%s": %d', key, value)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "wrapped": %d, "errors": ' ..
    '{"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, wrapped_total,
    e.connect, e.read, e.write, e.timeout, table.concat(parts, ", ")))
end
"""


# --- helpers ------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def server_env(tmp: Path, secret_key: str, redis_url: str = REDIS_URL) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secret_key,
            "DEBUG": "false",
            "BENCHMARK_ROUTES": "true",
            "DATA_DIR": str(tmp / "data"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return env


def reset_services(db_name: str = DB_NAME, redis_url: str = REDIS_URL) -> None:
    """An empty database `db_name` and an empty Redis database."""
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    redis.Redis.from_url(redis_url).flushdb()


@dataclass
class Fixture:
    slug: str
    text_hash: str
    public_key: object
    attestation_ids: list[int]


def prepare_letter() -> Fixture:
    """An open letter of a campaign with two attestations, with its issuer key."""
    from cryptography.hazmat.primitives import serialization

    from letters.models import Letter, LetterState
    from letters.services import compute_text_hash
    from organizing.models import Campaign
    from signatures.models import Attestation
    from signatures.services.issuance import issuer_key_create

    campaign = Campaign.objects.create(
        name="Benchmark campaign",
        slug=CAMPAIGN_SLUG,
        employer_name="Example Corp",
        allowed_domains=["example.com"],
    )
    ids = [
        Attestation.objects.create(campaign=campaign, text=text, position=i).id
        for i, text in enumerate(["I work here", "I do not manage people"])
    ]
    title, body = "Benchmark letter", "We, the employees, ask for a faster signing page."
    letter = Letter.objects.create(
        campaign=campaign,
        slug=LETTER_SLUG,
        title=title,
        body=body,
        state=LetterState.OPEN,
        text_hash=compute_text_hash(title=title, body=body, demands=[]),
        opened_at=datetime.now(UTC),
    )
    key = issuer_key_create(letter=letter)
    public_key = serialization.load_pem_public_key(key.public_key_pem.encode())
    return Fixture(letter.slug, letter.text_hash, public_key, ids)


def invite_codes(count: int) -> list[str]:
    from organizing.models import Campaign
    from signatures.services.common import INVITE_CODES_MAX_BATCH
    from signatures.services.eligibility import invite_codes_create

    campaign = Campaign.objects.get(slug=CAMPAIGN_SLUG)
    codes: list[str] = []
    while len(codes) < count:
        batch = min(INVITE_CODES_MAX_BATCH, count - len(codes))
        codes += invite_codes_create(actor=None, campaign=campaign, count=batch, batch="bench")
    return codes


def blinded_requests(fixture: Fixture, count: int) -> list[tuple[bytes, bytes, bytes, str]]:
    """(prepared, blinded, inv, invite code) for `count` token requests."""
    from signatures import blindrsa
    from signatures.services.common import TOKEN_CONTEXT

    text_hash = bytes.fromhex(fixture.text_hash)
    out = []
    for code in invite_codes(count):
        prepared = blindrsa.prepare(TOKEN_CONTEXT + text_hash + secrets.token_bytes(32))
        blinded, inv = blindrsa.blind(fixture.public_key, prepared)
        out.append((prepared, blinded, inv, code))
    return out


def redemption_body(fixture: Fixture, prepared: bytes, signature: bytes, number: int) -> str:
    """What the signing page sends: the token, its signature, a pseudonym and
    every statement affirmed."""
    return json.dumps(
        {
            "token": b64url(prepared),
            "signature": b64url(signature),
            "pseudonym": f"Quiet Heron {number}",
            "attestations": fixture.attestation_ids,
        }
    )


def token_body(blinded: bytes, code: str) -> str:
    return json.dumps(
        {"blinded_msg": b64url(blinded), "proof": {"type": "invite_code", "code": code}}
    )


def row_counts() -> dict[str, int]:
    from bench.baseline import baseline_row_count
    from signatures.models import Issuance, PendingSignature, Signature

    return {
        "baseline": baseline_row_count(),
        "issuance": Issuance.objects.count(),
        # Accepted signatures wait for their batch (the production
        # configuration); bench/seal.py measures the sealing.
        "redemption": Signature.objects.count() + PendingSignature.objects.count(),
    }


# --- the server ---------------------------------------------------------------------


class Server:
    def __init__(self, *, workers: int, port: int, env: dict[str, str], tmp: Path):
        self.workers, self.port, self.env = workers, port, env
        self.log = tmp / f"gunicorn-{workers}.log"
        self.process: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        return [
            str(VENV_BIN / "gunicorn"),
            "config.wsgi:application",
            "--worker-class=sync",
            f"--workers={self.workers}",
            f"--bind=127.0.0.1:{self.port}",
            "--backlog=2048",
            "--worker-tmp-dir=/dev/shm",
            "--log-level=warning",
            f"--error-logfile={self.log}",
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the gunicorn workers so far."""
        if not self.process:
            return 0.0
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return process_cpu_seconds(children.read_text().split())
        except OSError:
            return 0.0


def process_cpu_seconds(pids) -> float:
    """user + system CPU time of the processes `pids` (those still alive)."""
    return sum(cpu_by_process(pids).values())


def cpu_by_process(pids) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(pid)] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def database_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the benchmark database
    (the workers' persistent connections), excluding our own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB_NAME],
        )
        pids = [row[0] for row in cursor.fetchall()]
    return cpu_by_process(pids)


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two snapshots (backends may come and go)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# --- load generators ----------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]
    wrapped: int = 0
    rows: int = 0
    cpu_ms_per_ok: float = 0.0
    db_cpu_ms_per_ok: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def run_wrk(*, name, url_path, bodies_file, args, port, script) -> PhaseResult:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout=10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{url_path}",
        "--",
        url_path,
        str(bodies_file),
        str(args.threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT "))
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    return PhaseResult(
        name=name,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        statuses=data["statuses"],
        errors=data["errors"],
        wrapped=data["wrapped"],
    )


def _request_bytes(url_path: str, body: str, port: int) -> bytes:
    payload = body.encode()
    head = (
        f"POST {url_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + payload


async def _send_all(
    url_path: str, bodies: list[str], port: int, connections: int, duration: float | None
) -> tuple[list[tuple[int, bytes]], list[float], float]:
    """POST the bodies over `connections` concurrent connections (one request
    each, like gunicorn's sync workers want). Stops after `duration` seconds if
    given. Returns ([(status, body)] in body order, latencies in s, elapsed s)."""
    results: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    latencies: list[float] = []
    queue = iter(range(len(bodies)))
    start = time.perf_counter()
    stop_at = start + duration if duration else math.inf

    async def worker():
        for index in queue:
            if time.perf_counter() >= stop_at:
                return
            began = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request_bytes(url_path, bodies[index], port))
            raw = await reader.read()
            writer.close()
            latencies.append(time.perf_counter() - began)
            head, _sep, payload = raw.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1]) if head else 0
            results[index] = (status, payload)

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results, latencies, time.perf_counter() - start


def run_python(*, name, url_path, bodies, args, port) -> PhaseResult:
    results, latencies, elapsed = asyncio.run(
        _send_all(url_path, bodies, port, args.connections, args.duration)
    )
    latencies.sort()
    statuses: dict[str, int] = {}
    for status, _body in results:
        if status:
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return PhaseResult(
        name=name,
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        statuses=statuses,
        errors={},
        notes=["python client"],
    )


# --- the benchmark ------------------------------------------------------------------


class Bench:
    def __init__(self, args, fixture: Fixture, tmp: Path):
        self.args, self.fixture, self.tmp = args, fixture, tmp
        self.script = tmp / "signing.lua"
        self.script.write_text(WRK_SCRIPT, encoding="utf-8")
        self.use_wrk = shutil.which("wrk") is not None and not args.python_client
        self.tokens_path = f"/api/v1/letters/{fixture.slug}/tokens"
        self.signatures_path = f"/api/v1/letters/{fixture.slug}/signatures"
        self.serial = 0
        self.expected_rate = args.pool_rate

    def phase(self, server: Server, name: str, url_path: str, bodies: list[str]) -> PhaseResult:
        self.serial += 1
        before_rows = row_counts()[name]
        before_cpu, before_db = server.cpu_seconds(), database_cpu()
        if self.use_wrk:
            path = self.tmp / f"bodies-{self.serial}.jsonl"
            path.write_text("\n".join(bodies) + "\n", encoding="utf-8")
            result = run_wrk(
                name=name,
                url_path=url_path,
                bodies_file=path,
                args=self.args,
                port=server.port,
                script=self.script,
            )
            path.unlink()
        else:
            result = run_python(
                name=name, url_path=url_path, bodies=bodies, args=self.args, port=server.port
            )
        cpu = server.cpu_seconds() - before_cpu
        db_cpu = cpu_used(before_db, database_cpu())
        result.db_cpu_ms_per_ok = 1000 * db_cpu / result.ok if result.ok else 0.0
        result.rows = row_counts()[name] - before_rows
        result.cpu_ms_per_ok = 1000 * cpu / result.ok if result.ok else 0.0
        result.notes.append(f"load {os.getloadavg()[0]:.1f}")
        if result.wrapped:
            result.notes.append(f"pool exhausted ({result.wrapped}x): raise --pool-factor")
        bad = {s: n for s, n in result.statuses.items() if not s.startswith("2")}
        if bad:
            result.notes.append(f"non-2xx {bad}")
        if any(result.errors.values()):
            result.notes.append(f"socket errors {result.errors}")
        # Requests still in flight when the load generator stops may be
        # committed without being counted, at most one per connection.
        if not result.ok <= result.rows <= result.ok + self.args.connections:
            result.notes.append(f"rows {result.rows} != ok {result.ok}")
        return result

    def baseline_bodies(self, count: int) -> list[str]:
        return [
            json.dumps({"payload": f"baseline row {i} " + secrets.token_hex(8)})
            for i in range(count)
        ]

    def warm_up(self, server: Server) -> None:
        """Every worker has loaded the code and opened its database connection."""
        asyncio.run(
            _send_all(
                "/bench/insert", self.baseline_bodies(2000), server.port, self.args.connections, 2
            )
        )

    def redemption_bodies(self, server: Server, count: int) -> list[str]:
        """Finalized tokens obtained through real issuance over HTTP (untimed)."""
        from signatures import blindrsa

        pending = blinded_requests(self.fixture, count)
        bodies = [token_body(blinded, code) for _p, blinded, _i, code in pending]
        results, _lat, _elapsed = asyncio.run(
            _send_all(self.tokens_path, bodies, server.port, 16, None)
        )
        out = []
        for (prepared, _blinded, inv, _code), (status, payload) in zip(
            pending, results, strict=True
        ):
            if status != 200:
                raise SystemExit(f"pre-issuance failed: {status} {payload[:200]!r}")
            blind_sig = b64url_decode(json.loads(payload)["blind_sig"])
            signature = blindrsa.finalize(self.fixture.public_key, prepared, blind_sig, inv)
            out.append(redemption_body(self.fixture, prepared, signature, len(out)))
        return out

    def round(self, server: Server) -> dict[str, PhaseResult]:
        """One round: prepare (untimed), then baseline, redemption, baseline,
        issuance. Redemption runs between the two baselines whose mean it is
        divided by, with nothing else in between: the heavy preparation (the
        redemption tokens come from real issuance) is done before the first."""
        args = self.args
        baseline_pool = int(args.pool_rate * args.duration * args.pool_factor)
        # Signing pools sized from the fastest baseline seen (neither signing
        # phase is faster); before the first one, from --pool-rate.
        pool = max(1000, int(self.expected_rate * args.duration * args.pool_factor))
        started = time.monotonic()
        issue_bodies = [
            token_body(b, code) for _p, b, _i, code in blinded_requests(self.fixture, pool)
        ]
        redeem_bodies = self.redemption_bodies(server, pool)
        print(
            f"  (prepared {pool} issuance and {pool} redemption bodies in "
            f"{time.monotonic() - started:.0f} s, untimed)",
            flush=True,
        )
        time.sleep(1)
        baseline = self.phase(
            server, "baseline", "/bench/insert", self.baseline_bodies(baseline_pool)
        )
        time.sleep(1)
        redemption = self.phase(server, "redemption", self.signatures_path, redeem_bodies)
        time.sleep(1)
        baseline_after = self.phase(
            server, "baseline", "/bench/insert", self.baseline_bodies(baseline_pool)
        )
        time.sleep(1)
        issuance = self.phase(server, "issuance", self.tokens_path, issue_bodies)
        self.expected_rate = max(baseline.rate, baseline_after.rate)
        return {
            "baseline": baseline,
            "redemption": redemption,
            "baseline_after": baseline_after,
            "issuance": issuance,
        }


def baseline_rate(results: dict[str, PhaseResult]) -> float:
    """Mean of the baseline measured just before and just after the redemption."""
    return (results["baseline"].rate + results["baseline_after"].rate) / 2


ROW = "{:>7} {:>5}  {:<10} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>7} {:>7}  {}"
HEADER = ROW.format(
    "workers",
    "round",
    "phase",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "ok",
    "rows",
    "app cpu",
    "db cpu",
    "notes",
)


def print_round(workers: int, number: int, results: dict[str, PhaseResult]) -> None:
    for key in ("baseline", "redemption", "baseline_after", "issuance"):
        r = results[key]
        name = "baseline" if key == "baseline_after" else key
        print(
            ROW.format(
                workers,
                number,
                name,
                f"{r.rate:.0f}",
                f"{r.p50_ms:.1f}",
                f"{r.p90_ms:.1f}",
                f"{r.p99_ms:.1f}",
                f"{r.max_ms:.1f}",
                r.ok,
                r.rows,
                f"{r.cpu_ms_per_ok:.2f}",
                f"{r.db_cpu_ms_per_ok:.2f}",
                "; ".join(r.notes),
            ),
            flush=True,
        )
    base = baseline_rate(results)
    redeem, issue = results["redemption"].rate / base, results["issuance"].rate / base
    full = full_signature_rate(results["issuance"].rate, results["redemption"].rate)
    print(
        f"{'':>7} {'':>5}  / baseline (mean of the two, {base:.0f}/s): redemption {redeem:.2f}, "
        f"issuance {issue:.2f}; full signatures {full:.0f}/s",
        flush=True,
    )


def spread(values: list[float], digits: int = 0) -> str:
    """'median (min-max)' of one figure over the rounds."""
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def full_signature_rate(issuance: float, redemption: float) -> float:
    """Signatures per second when every signer takes a token, then signs:
    1 / (1/issuance + 1/redemption)."""
    if not issuance or not redemption:
        return 0.0
    return 1 / (1 / issuance + 1 / redemption)


def summarize(all_rounds: dict[int, list[dict[str, PhaseResult]]]) -> None:
    print()
    print("Summary over rounds: median (min-max); targets are judged on the medians")
    line = "{:>7}  {:>18} {:>18} {:>18} {:>18} {:>16} {:>16} {:>18} {:>18}"
    print(
        line.format(
            "workers",
            "baseline/s",
            "issuance/s",
            "redemption/s",
            "full signatures/s",
            "issue/baseline",
            "redeem/baseline",
            "issuance p99 ms",
            "redemption p99 ms",
        )
    )
    for workers, rounds in all_rounds.items():
        base = [baseline_rate(r) for r in rounds]
        issue = [r["issuance"].rate for r in rounds]
        redeem = [r["redemption"].rate for r in rounds]
        full = [full_signature_rate(r["issuance"].rate, r["redemption"].rate) for r in rounds]
        issue_ratio = [r["issuance"].rate / baseline_rate(r) for r in rounds]
        redeem_ratio = [r["redemption"].rate / baseline_rate(r) for r in rounds]
        issue_p99 = [r["issuance"].p99_ms for r in rounds]
        redeem_p99 = [r["redemption"].p99_ms for r in rounds]
        print(
            line.format(
                workers,
                spread(base),
                spread(issue),
                spread(redeem),
                spread(full),
                spread(issue_ratio, 2),
                spread(redeem_ratio, 2),
                spread(issue_p99, 1),
                spread(redeem_p99, 1),
            )
        )
        checks = [
            (
                f"redemption >= {TARGET_REDEMPTION_RATIO}x baseline",
                median(redeem_ratio) >= TARGET_REDEMPTION_RATIO,
            ),
            (
                f"issuance >= {TARGET_ISSUANCE_RATIO}x baseline",
                median(issue_ratio) >= TARGET_ISSUANCE_RATIO,
            ),
            (f"redemption p99 < {TARGET_P99_MS:.0f} ms", median(redeem_p99) < TARGET_P99_MS),
            (f"issuance p99 < {TARGET_P99_MS:.0f} ms", median(issue_p99) < TARGET_P99_MS),
        ]
        print(
            f"{'':>7}  targets (medians): "
            + ", ".join(f"{label}: {'met' if ok else 'MISSED'}" for label, ok in checks)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workers", default="4", help="gunicorn sync workers, e.g. 3,4 (the Procfile runs 4)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="measurements per worker count")
    parser.add_argument("--duration", type=int, default=12, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--port", type=int, default=8771)
    parser.add_argument(
        "--pool-factor",
        type=float,
        default=1.3,
        help="request bodies per phase = rate x duration x this",
    )
    parser.add_argument(
        "--pool-rate",
        type=float,
        default=3000,
        help="baseline bodies are sized for this rate (req/s)",
    )
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help="the Redis database to use; it is emptied first (default: %(default)s)",
    )
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-signing-"))
    env = server_env(tmp, secrets.token_urlsafe(50), args.redis_url)
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DATABASE_URL",
                "REDIS_URL",
                "SECRET_KEY",
                "DEBUG",
                "BENCHMARK_ROUTES",
                "DATA_DIR",
                "DJANGO_SETTINGS_MODULE",
            )
        }
    )
    sys.path.insert(0, str(REPO_ROOT))
    print(f"Preparing {DB_NAME} and Redis {args.redis_url} ...", flush=True)
    reset_services(redis_url=args.redis_url)
    # The Procfile's release step: migrations, and the static files that
    # WhiteNoise serves (without them every worker warns at start-up).
    for command in (["migrate"], ["collectstatic"]):
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *command, "--noinput", "-v0"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
        )
    import django

    django.setup()
    from bench.baseline import baseline_table_create

    baseline_table_create()
    fixture = prepare_letter()
    bench = Bench(args, fixture, tmp)

    client = "wrk " + f"-t{args.threads}" if bench.use_wrk else "Python asyncio client"
    print(
        f"Signing benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; gunicorn sync workers, {args.connections} "
        f"connections ({client}), {args.duration} s per phase; {gmp_build()}"
    )
    all_rounds: dict[int, list[dict[str, PhaseResult]]] = {}
    try:
        for workers in worker_counts:
            server = Server(workers=workers, port=args.port, env=env, tmp=tmp)
            server.start()
            try:
                bench.warm_up(server)
                print()
                print(HEADER, flush=True)
                for number in range(1, args.rounds + 1):
                    results = bench.round(server)
                    all_rounds.setdefault(workers, []).append(results)
                    print_round(workers, number, results)
            finally:
                server.stop()
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(tmp, ignore_errors=True)
    summarize(all_rounds)
    print(
        "\napp cpu / db cpu: CPU milliseconds per successful request used by the gunicorn"
        "\nworkers / by their PostgreSQL backends (the rest goes to the kernel, Redis, wrk)."
    )


if __name__ == "__main__":
    main()
