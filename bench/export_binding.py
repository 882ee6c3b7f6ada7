"""Binding benchmark: what the log check adds to an export of a big letter.

Every export (when it starts, when it renders, and when its delivery is
recorded) computes the export's snapshot, which now checks the letter's log
(petitions/binding.py): it reads every log entry up to the latest
checkpoint, hashes them into the root, verifies the checkpoint note, and
compares the counted signatures with the log's. This script measures that
on PostgreSQL for a closed letter of --signatures signatures (sealed in
batches of 10,000 through batch_seal, with random 115-byte tokens whose
hash is the row's token hash; nothing here checks RSA), and prints the time
of the log tally alone (signatures.log_selectors.log_tally), of the whole
check (log_binding), and of the whole snapshot (check + manifest + state
key), the median of --rounds each.

It drops and re-creates the database --database (default
organizing_bench_binding) on the PostgreSQL server at 127.0.0.1 (trust
auth, user postgres).

Usage (from the repository root)::

    .venv/bin/python bench/export_binding.py [--signatures 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 10_000


def reset_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def add_waiting(letter, size: int, start: int) -> None:
    from signatures.models import PendingSignature

    rows = []
    for i in range(start, start + size):
        token = secrets.token_bytes(115)
        rows.append(
            PendingSignature(
                id=uuid.uuid4(),
                letter_id=letter.pk,
                token_hash=hashlib.sha256(token).hexdigest(),
                token=token,
                signature=secrets.token_bytes(256),
                receipt_hash=secrets.token_hex(32),
                pseudonym=f"Signer {i}",
                department=("Legal", "Sales", "Support", "")[i % 4],
                location=("Oslo", "Lyon", "")[i % 3],
                attestations=[1, 2],
            )
        )
    PendingSignature.objects.bulk_create(rows, batch_size=2000)


def median_seconds(function, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signatures", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default="organizing_bench_binding")
    args = parser.parse_args()

    os.environ.update(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{args.database}",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATA_DIR": tempfile.mkdtemp(prefix="bench-binding-"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    reset_database(args.database)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=os.environ,
        check=True,
    )
    import django

    django.setup()
    from django.db import transaction

    from bench.seal import open_letter
    from letters.models import Letter, LetterState
    from petitions.binding import log_binding
    from petitions.models import PaperSize
    from petitions.services import snapshot
    from signatures.log_selectors import latest_checkpoint, log_tally
    from signatures.services.batches import batch_seal

    letter = open_letter()
    for start in range(0, args.signatures, BATCH):
        add_waiting(letter, min(BATCH, args.signatures - start), start)
        batch_seal(letter=letter, force=True)
    Letter.objects.filter(pk=letter.pk).update(state=LetterState.CLOSED)
    letter.refresh_from_db()
    size = latest_checkpoint(letter).tree_size

    def binding():
        with transaction.atomic():
            assert log_binding(letter).tree_size == size

    tally = median_seconds(lambda: log_tally(letter, tree_size=size), args.rounds)
    check = median_seconds(binding, args.rounds)
    whole = median_seconds(lambda: snapshot(letter, paper=PaperSize.A4, encrypt=False), args.rounds)
    print(
        f"Binding benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; PostgreSQL, {args.signatures:,} signatures, "
        f"log size {size:,}, median of {args.rounds}"
    )
    print(f"log_tally (read, hash, count every entry) {tally:6.2f} s")
    print(f"log_binding (tally, note, rows compared)  {check:6.2f} s")
    print(f"snapshot (binding, manifest, state key)   {whole:6.2f} s")


if __name__ == "__main__":
    main()
