"""Sealing benchmark: a batch of 10,000 waiting signatures sealed into the log.

Target (issue 15, 2 cores): under 5 s per batch of 10,000, everything
included: the waiting rows read, the log entries appended (entries, stored
hashes, tiles, a signed checkpoint), the signature rows written in random
order, the waiting tables locked and emptied (TRUNCATE), and the commit
(signatures/services/batches.py).

The script drops and re-creates the database organizing_bench_seal on the
PostgreSQL server at 127.0.0.1 (trust auth, user postgres), migrates it,
opens a letter with its issuer key and log, and then, for each round, inserts
--size waiting signatures (random 115-byte tokens and 256-byte signatures: the
seal checks neither; acceptance did) with bulk inserts, which are not timed,
and times batch_seal(force=True).

Usage (from the repository root)::

    .venv/bin/python bench/seal.py [--size 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
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
DB_NAME = "organizing_bench_seal"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 5.0


def reset_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def open_letter():
    from letters.models import Letter, LetterState
    from letters.services import compute_text_hash
    from organizing.models import Campaign
    from signatures.services.issuance import issuer_key_create
    from signatures.services.log import log_open

    campaign = Campaign.objects.create(
        name="Benchmark campaign", slug="bench-seal", employer_name="Example Corp"
    )
    title, body = "Benchmark letter", "We, the employees, ask for a faster seal."
    letter = Letter.objects.create(
        campaign=campaign,
        slug="bench-seal",
        title=title,
        body=body,
        state=LetterState.OPEN,
        text_hash=compute_text_hash(title=title, body=body, demands=[]),
        opened_at=datetime.now(UTC),
    )
    issuer_key_create(letter=letter)
    log_open(letter=letter)
    return letter


def add_waiting(letter, size: int) -> None:
    from signatures.models import PendingSignature

    rows = []
    for i in range(size):
        token = secrets.token_bytes(115)
        rows.append(
            PendingSignature(
                id=uuid.uuid4(),
                letter_id=letter.pk,
                token_hash=secrets.token_hex(32),
                token=token,
                signature=secrets.token_bytes(256),
                receipt_hash=secrets.token_hex(32),
                pseudonym=f"Signer {i}",
                department=("Legal", "Sales", "Support", "")[i % 4],
                location=("Oslo", "Lyon", "")[i % 3],
                comment="Enough." if i % 5 == 0 else "",
                attestations=[1, 2],
            )
        )
    PendingSignature.objects.bulk_create(rows, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000, help="signatures per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    os.environ.update(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATA_DIR": tempfile.mkdtemp(prefix="bench-seal-"),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
        }
    )
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    reset_database()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=os.environ,
        check=True,
    )
    import django

    django.setup()
    from signatures.models import PendingSignature, Signature
    from signatures.services.batches import batch_seal

    letter = open_letter()
    print(
        f"Sealing benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; batches of {args.size:,} on PostgreSQL"
    )
    print(f"{'round':>5} {'seconds':>8} {'signatures/s':>13} {'log size':>9} {'rows':>8}")
    times = []
    for number in range(1, args.rounds + 1):
        add_waiting(letter, args.size)
        started = time.perf_counter()
        sealed = batch_seal(letter=letter, force=True)
        elapsed = time.perf_counter() - started
        times.append(elapsed)
        assert sealed.signatures == args.size, sealed
        assert not PendingSignature.objects.exists()
        rows = Signature.objects.filter(letter=letter).count()
        print(
            f"{number:>5} {elapsed:>8.2f} {args.size / elapsed:>13,.0f} "
            f"{sealed.tree_size:>9,} {rows:>8,}"
        )
    median = statistics.median(times)
    verdict = "met" if median < TARGET_SECONDS else "MISSED"
    print(
        f"\nmedian {median:.2f} s per batch of {args.size:,} (min {min(times):.2f}, "
        f"max {max(times):.2f}); target < {TARGET_SECONDS:.0f} s: {verdict}"
    )


if __name__ == "__main__":
    main()
