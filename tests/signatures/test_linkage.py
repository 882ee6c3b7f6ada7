"""The linkage attack on a seized PostgreSQL database (issue 15).

The audit that found this signed through the API, each signature right after
its token, and paired issuance rows with signature rows by xmin: 12 of 12.
Here 40 issuances and 40 immediate signatures are interleaved through the API
in the production configuration (scheduled batches of 20), the batches seal,
and then the adversary works on everything a seizure gives: every table's
rows with their xmin and ctid, a real `pg_dump`, every timestamp and number
stored next to them, the raw pages of the tables where signatures waited,
PostgreSQL's own log and the application's.

Moderation is in the data: the campaign's hold list holds every signer's
text for review at the seal (rows written in the seal's transaction), then,
after a first round of attacks, an organizer works the queue (hides each
one's pseudonym, shows three again), anonymous visitors report every signature from the
public list, and the attacks run again over all of it.

Issuances are ordered by arrival in any case (each is its own transaction);
linking a signature to a person therefore means putting signatures in arrival
order. Within a batch no attack may do better than chance: for a random
order of 20, the number of signatures put in their true place is about
Poisson(1) (P(>= 7) < 1e-4), and Kendall's tau against the true order is
about normal with a standard deviation of 0.16.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from signatures.models import (
    PendingSignature,
    PendingWithdrawal,
    Signature,
    SignatureModeration,
    SignatureReport,
)
from signatures.moderation_selectors import held_signatures, hidden_signatures
from signatures.services.batches import batches_seal_due
from signatures.services.eligibility import invite_codes_create
from signatures.services.moderation import hold_list_update, signature_hide, signature_show
from tests.signatures.helpers import SigningClient, post_json
from tests.support.postgres_log import ServerLog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BATCH = 20
SIGNERS = 2 * BATCH
MOST_IN_PLACE = 6
LARGEST_TAU = 0.6


def kendall_tau(order: list[int]) -> float:
    n = len(order)
    concordant = sum(1 if order[i] < order[j] else -1 for i in range(n) for j in range(i + 1, n))
    return concordant / (n * (n - 1) / 2)


def in_place(order: list[int]) -> int:
    return sum(1 for rank, arrival in enumerate(sorted(order)) if order[rank] == arrival)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_interleaved(letter, attestation_ids, now):
    """Token then signature, 40 times; a seal after each 20. Returns, per
    signer in arrival order, the strings that name their signature."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=SIGNERS)
    marks = []
    for i, code in enumerate(codes):
        api = SigningClient(Client(), letter.slug)
        token = api.token({"type": "invite_code", "code": code})
        status, body = api.sign(token, pseudonym=f"Signer {i}", attestations=attestation_ids)
        assert status == 201 and body["status"] == "pending", body
        marks.append(
            {
                hashlib.sha256(token.prepared).hexdigest(),
                b64url(token.prepared),
                hashlib.sha256(body["receipt"].encode()).hexdigest(),
                body["id"],
                body["id"].replace("-", ""),
            }
        )
        if i + 1 == BATCH:
            assert len(batches_seal_due(now=now)) == 1
    assert len(batches_seal_due(now=now + timedelta(minutes=2))) == 1
    return marks


def as_text(value) -> str:
    """A stored value as an attacker reads it: bytes decoded (log entries are
    JSON) and as hex."""
    if isinstance(value, (bytes, memoryview)):
        raw = bytes(value)
        return raw.decode("utf-8", errors="replace") + " " + raw.hex()
    return str(value)


def dump_line_text(line: str) -> str:
    """A pg_dump COPY line with its bytea values (\\x<hex>) decoded too."""
    decoded = [
        bytes.fromhex(blob).decode("utf-8", errors="replace")
        for blob in re.findall(r"\\\\x([0-9a-f]+)", line)
    ]
    return " ".join([line, *decoded])


def signer_of(text: str, marks) -> int | None:
    found = [i for i, names in enumerate(marks) if any(name in text for name in names)]
    return found[0] if len(found) == 1 else None


def batch_of(signer: int) -> int:
    return signer // BATCH


def assert_no_better_than_chance(what: str, ordered_signers: list[int]):
    """`ordered_signers`: the signers as the attack orders them (rows of
    other signers and other batches left out later)."""
    for batch in range(SIGNERS // BATCH):
        order = [s for s in ordered_signers if batch_of(s) == batch]
        if len(order) < 2:
            continue
        assert in_place(order) <= MOST_IN_PLACE, (what, batch, order)
        assert abs(kendall_tau(order)) <= LARGEST_TAU, (what, batch, order)


def table_rows(table: str) -> tuple[list[str], list[tuple]]:
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT xmin::text::bigint, ctid::text, * FROM {quoted}")  # noqa: S608
        columns = [c[0] for c in cursor.description]
        return columns, cursor.fetchall()


def ctid_key(ctid: str) -> tuple[int, int]:
    page, item = ctid.strip("()").split(",")
    return int(page), int(item)


def orderable(value) -> bool:
    return value is not None and not isinstance(value, (bytes, memoryview, str, bool, dict, list))


def attack_every_table(marks) -> set[str]:
    """Order each table's rows that name a signer by xmin, by place and by
    every stored time or number; returns the tables that had such rows."""
    attacked = set()
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    for table in tables:
        columns, rows = table_rows(table)
        linked = []
        for row in rows:
            signer = signer_of(" ".join(as_text(v) for v in row[2:]), marks)
            if signer is not None:
                linked.append((signer, row))
        if not linked:
            continue
        attacked.add(table)
        # xmin (the transaction), then the row's place: the audit's attack.
        by_xmin = sorted(linked, key=lambda sr: (sr[1][0], ctid_key(sr[1][1])))
        assert_no_better_than_chance(f"{table} by xmin", [s for s, _r in by_xmin])
        by_ctid = sorted(linked, key=lambda sr: ctid_key(sr[1][1]))
        assert_no_better_than_chance(f"{table} by ctid", [s for s, _r in by_ctid])
        # Every stored time or number (timestamps, sequences, indexes), ties
        # broken by the row's place.
        for position, column in enumerate(columns[2:], start=2):
            if not all(orderable(row[position]) for _s, row in linked):
                continue
            by_column = sorted(linked, key=lambda sr: (sr[1][position], ctid_key(sr[1][1])))
            assert_no_better_than_chance(f"{table}.{column}", [s for s, _r in by_column])
    return attacked


def moderate(letter, organizer) -> None:
    """An organizer works the queue in its order (random ids): hides the
    pseudonym of every held signature, shows three again; then anonymous
    visitors report every signature from the public list, in its order."""
    campaign = letter.campaign
    for item in held_signatures(campaign):
        signature_hide(
            actor=organizer, signature=item.signature, fields=["pseudonym"], reason="spam"
        )
    for item in hidden_signatures(campaign)[:3]:
        assert signature_show(actor=organizer, signature=item.signature)
    listed = Client().get(f"/api/v1/letters/{letter.slug}/signatures").json()["results"]
    assert len(listed) == SIGNERS
    for row in listed:
        status, body = post_json(
            Client(),
            f"/api/v1/letters/{letter.slug}/signatures/{row['id']}/reports",
            {"reason": "abuse"},
        )
        assert status == 201, body


def test_no_attack_orders_a_batch_finer_than_chance(
    settings, roles, letter, attestation_ids, caplog
):
    settings.SIGNATURE_BATCHES = "scheduled"
    # Forty signers (and reporters) behind the test's one address.
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(["token", "signature", "report"])
    letter.campaign.batch_min = BATCH
    letter.campaign.batch_interval = 1
    letter.campaign.save()
    # Every signer's pseudonym ("Signer <n>") holds their text for review.
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Signer")
    server_log = ServerLog()
    caplog.set_level(logging.DEBUG)
    marks = sign_interleaved(letter, attestation_ids, timezone.now())
    assert Signature.objects.filter(letter=letter).count() == SIGNERS
    assert SignatureModeration.objects.filter(held=True).count() == SIGNERS

    # Right after the seals: the held rows were written in the seal's order.
    attacked = attack_every_table(marks)
    assert {
        Signature._meta.db_table,
        "signatures_logentry",
        SignatureModeration._meta.db_table,
    } <= attacked

    moderate(letter, roles.organizer)
    assert not SignatureModeration.objects.filter(held=True).exists()
    assert SignatureModeration.objects.filter(hide_pseudonym=True).count() == SIGNERS - 3
    assert SignatureReport.objects.count() == SIGNERS
    attacked = attack_every_table(marks)
    assert {SignatureReport._meta.db_table, "organizing_auditentry"} <= attacked

    # Position in a real pg_dump of the whole database.
    database = connection.settings_dict["NAME"]
    dump = subprocess.run(
        ["pg_dump", "--data-only", "-h", "127.0.0.1", "-U", "postgres", database],
        capture_output=True,
        text=True,
        check=True,
        env={"PGHOST": "127.0.0.1", "PATH": "/usr/bin:/bin"},
    ).stdout
    sections = dump.split("COPY ")
    dumped = 0
    for section in sections:
        found = (signer_of(dump_line_text(line), marks) for line in section.splitlines())
        order = [signer for signer in found if signer is not None]
        if order:
            dumped += 1
            assert_no_better_than_chance(f"pg_dump {section.split()[0]}", order)
    assert dumped >= 2

    # Where signatures waited: rewritten after the seal, nothing in its pages.
    with connection.cursor() as cursor:
        for model in (PendingSignature, PendingWithdrawal):
            cursor.execute("SELECT pg_relation_size(%s)", [model._meta.db_table])
            assert cursor.fetchone()[0] == 0, model
    assert not PendingSignature.objects.exists()

    # PostgreSQL's log and the application's name no signature.
    for line in server_log.new_text().splitlines():
        assert signer_of(line, marks) is None, line
    for record in caplog.records:
        assert signer_of(record.getMessage(), marks) is None, record.getMessage()
    assert django_settings.SIGNATURE_BATCHES == "scheduled"
