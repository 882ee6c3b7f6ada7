"""Transparency-log benchmark: log_append of 10,000 entries, and
clients/verify.py auditing a 100,000-signature log served over HTTP.

The script

- drops and re-creates the PostgreSQL database organizing_log_bench
  (--database) and migrates it;
- opens a letter (its issuer key and log, as letters.services.letter_open
  does through letter_opened);
- makes 100,000 real signature entries (--signatures): tokens of the
  letter's text with an RSA-PSS signature of the issuer key each (what a
  signer holds after unblinding), in two processes;
- appends them through signatures.services.log.log_append in batches of
  10,000 entries (--batch), each batch one transaction as a seal would be,
  ordered by token hash, every batch after the first withdrawing 1% of the
  signatures of the batches before: timed, per batch;
- serves the database with the production server (gunicorn, 4 sync
  workers, DEBUG off) on 127.0.0.1 (--port) and runs clients/verify.py
  against it (--runs times; the first pins the key and saves the
  checkpoint, the others check it): wall time, the auditor's CPU time and
  the server workers' CPU time.

Targets (2 cores): each log_append of 10,000 entries well under 5 s; the
audit of 100,000 signatures under 60 s. Results go in docs/benchmarks.md
("Transparency log").

Usage (from the repository root; PostgreSQL on 127.0.0.1)::

    .venv/bin/python bench/verify_log.py [--signatures 100000] [--batch 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from signatures import blindrsa, tlog  # noqa: E402 - neither needs Django

VENV_BIN = REPO_ROOT / ".venv" / "bin"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LETTER_SLUG = "bench-log-letter"
TOKEN_CONTEXT = b"organizing-token-v1"  # signatures.services.common (checked in main)
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=blindrsa.SALT_LEN)
TARGET_APPEND_SECONDS = 5.0
TARGET_VERIFY_SECONDS = 60.0


def make_entries(job: tuple[bytes, str, int]) -> list[bytes]:
    """`count` signature entries of tokens for the text hash, signed with the
    PEM private key (runs in a worker process: no Django)."""
    pem, text_hash, count = job
    key = serialization.load_pem_private_key(pem, password=None)
    prefix = TOKEN_CONTEXT + bytes.fromhex(text_hash)
    entries = []
    for number in range(count):
        prepared = blindrsa.prepare(prefix + secrets.token_bytes(32))
        fields = tlog.fields_sha256(
            salt=tlog.new_salt(),
            pseudonym=f"Signer {number}",
            public_name="",
            reveal_at=None,
            department="Engineering" if number % 3 else "",
            location="",
            comment="",
            attestations=[1, 2],
        )
        entries.append(
            tlog.signature_entry(
                token=prepared,
                signature=key.sign(prepared, PSS, hashes.SHA384()),
                fields_sha256=fields,
            )
        )
    return entries


def token_sha256(entry: bytes) -> str:
    """Signature.token_hash of a signature entry."""
    token = json.loads(entry)["token"]
    return hashlib.sha256(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).hexdigest()


def server_env(database_url: str, port: int, tmp: Path, secret_key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secret_key,
            "DEBUG": "false",
            "SITE_URL": f"http://127.0.0.1:{port}",
            "DATA_DIR": str(tmp / "data"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.pop("REDIS_URL", None)  # the log's pages need no cache
    return env


def reset_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def open_bench_letter(private_key: rsa.RSAPrivateKey):
    from letters.models import Letter, LetterState
    from letters.services import compute_text_hash
    from organizing.models import Campaign
    from signatures.services.issuance import issuer_key_create
    from signatures.services.log import log_open

    campaign = Campaign.objects.create(
        name="Benchmark campaign", slug="bench-log", employer_name="Example Corp"
    )
    title, body = "Benchmark letter", "We, the employees, ask for an auditable count."
    letter = Letter.objects.create(
        campaign=campaign,
        slug=LETTER_SLUG,
        title=title,
        body=body,
        state=LetterState.OPEN,
        text_hash=compute_text_hash(title=title, body=body, demands=[]),
        opened_at=datetime.now(UTC),
    )
    issuer_key_create(letter=letter, private_key=private_key)
    log_open(letter=letter)
    return letter


def append_batches(letter, entries: list[bytes], batch: int) -> list[tuple[int, float]]:
    """Append in batches of `batch` entries (1% of them withdrawals of
    earlier signatures after the first); [(entries, seconds)] per batch."""
    from django.db import transaction

    from signatures.services.log import log_append

    timings = []
    position = withdrawn_up_to = 0
    while position < len(entries):
        withdrawals = batch // 100 if position else 0
        chunk = entries[position : position + batch - withdrawals]
        # The earliest signatures not withdrawn yet, all of earlier batches.
        withdrawn = [
            tlog.withdrawal_entry(token_sha256=token_sha256(entry))
            for entry in entries[withdrawn_up_to : withdrawn_up_to + withdrawals]
        ]
        position += len(chunk)
        withdrawn_up_to += withdrawals
        # A batch is ordered by token hash (withdrawals by the hash they name).
        keyed = [(token_sha256(e), e) for e in chunk] + [
            (json.loads(w)["token_sha256"], w) for w in withdrawn
        ]
        ordered = [entry for _key, entry in sorted(keyed)]
        started = time.perf_counter()
        with transaction.atomic():
            log_append(letter=letter, entries=ordered)
        timings.append((len(ordered), time.perf_counter() - started))
        print(f"  appended {len(ordered):,} entries in {timings[-1][1]:.2f} s", flush=True)
    return timings


class Server:
    """gunicorn as the Procfile runs it (sync workers), on 127.0.0.1."""

    def __init__(self, *, port: int, env: dict[str, str], tmp: Path, workers: int = 4):
        self.port, self.env, self.workers = port, env, workers
        self.log = tmp / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "config.wsgi:application",
                "--worker-class=sync",
                f"--workers={self.workers}",
                f"--bind=127.0.0.1:{self.port}",
                "--worker-tmp-dir=/dev/shm",
                "--log-level=warning",
                f"--error-logfile={self.log}",
            ],
            cwd=REPO_ROOT,
            env=self.env,
        )
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

    def worker_cpu_seconds(self) -> float:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        total = 0.0
        for pid in children.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_verify(port: int, tmp: Path, key: str | None) -> tuple[float, float, str]:
    """(wall seconds, the auditor's CPU seconds, its output) of one audit."""
    out = tmp / "verify.out"
    command = [
        str(VENV_BIN / "python"),
        str(REPO_ROOT / "clients" / "verify.py"),
        f"http://127.0.0.1:{port}",
        LETTER_SLUG,
        "--pin-file",
        str(tmp / "pins.json"),
        "--checkpoint",
        str(tmp / "checkpoint.txt"),
    ]
    if key:
        command += ["--key", key]
    started = time.perf_counter()
    with out.open("wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text()
    if process.returncode != 0:
        raise SystemExit(f"clients/verify.py failed ({process.returncode}):\n{text}")
    return wall, usage.ru_utime + usage.ru_stime, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="entries per log_append")
    parser.add_argument("--runs", type=int, default=3, help="audits of the finished log")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--database", default="organizing_log_bench", help="dropped and re-created")
    args = parser.parse_args()
    database_url = f"postgresql://postgres@127.0.0.1:5432/{args.database}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-log-"))
    env = server_env(database_url, args.port, tmp, secrets.token_urlsafe(50))
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "SITE_URL")})
    os.environ.update({k: env[k] for k in ("DATA_DIR", "DJANGO_SETTINGS_MODULE")})
    os.environ.pop("REDIS_URL", None)
    print(
        f"Transparency-log benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    print(f"Preparing {args.database} ...", flush=True)
    reset_database(args.database)
    for command in (["migrate"], ["collectstatic"]):
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *command, "--noinput", "-v0"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
        )
    import django

    django.setup()
    from django.db import connection

    from signatures.models import LetterLog
    from signatures.services.common import TOKEN_CONTEXT as SERVER_TOKEN_CONTEXT

    assert SERVER_TOKEN_CONTEXT == TOKEN_CONTEXT
    letter = open_bench_letter(private_key)
    connection.close()  # before the worker processes start

    started = time.perf_counter()
    jobs = 2 * (os.cpu_count() or 2)
    sizes = [args.signatures // jobs + (i < args.signatures % jobs) for i in range(jobs)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 2) as pool:
        entries = [
            e
            for part in pool.map(make_entries, [(pem, letter.text_hash, n) for n in sizes])
            for e in part
        ]
    print(
        f"Made {len(entries):,} signature entries (RSA-PSS) in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )

    print(f"log_append in batches of {args.batch:,} entries (PostgreSQL):", flush=True)
    timings = append_batches(letter, entries, args.batch)
    log = LetterLog.objects.get(letter=letter)
    full = [seconds for count, seconds in timings if count == args.batch]
    connection.close()

    server = Server(port=args.port, env=env, tmp=tmp)
    server.start()
    audits = []
    try:
        for run in range(args.runs):
            cpu_before = server.worker_cpu_seconds()
            wall, cpu, output = run_verify(args.port, tmp, key=None)
            server_cpu = server.worker_cpu_seconds() - cpu_before
            audits.append((wall, cpu, server_cpu))
            print(
                f"  audit {run + 1}: {wall:.1f} s wall, auditor CPU {cpu:.1f} s, "
                f"server workers' CPU {server_cpu:.1f} s",
                flush=True,
            )
    finally:
        server.stop()
    count = re.search(r"^count: (-?\d+)$", output, re.M).group(1)
    checked = re.search(r"^checked: .*$", output, re.M).group(0)

    print("\nSummary")
    print(f"  log: {log.size:,} entries, {count} counted ({checked})")
    append_met = "met" if max(full) < TARGET_APPEND_SECONDS else "MISSED"
    print(
        f"  log_append of {args.batch:,} entries: median {median(full):.2f} s, "
        f"max {max(full):.2f} s over {len(full)} batches "
        f"(target < {TARGET_APPEND_SECONDS:.0f} s: {append_met})"
    )
    walls = [a[0] for a in audits]
    print(
        f"  clients/verify.py audit: median {median(walls):.1f} s wall "
        f"(min {min(walls):.1f}, max {max(walls):.1f}), auditor CPU "
        f"{median(a[1] for a in audits):.1f} s, server workers' CPU "
        f"{median(a[2] for a in audits):.1f} s "
        f"(target < {TARGET_VERIFY_SECONDS:.0f} s: "
        f"{'met' if median(walls) < TARGET_VERIFY_SECONDS else 'MISSED'})"
    )
    print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
