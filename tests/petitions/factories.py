"""Factories of the export tests: letters, and their signatures sealed into
the letter's transparency log as the batch seal writes them (or, for a
letter without a log, made directly, as before logs existed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from django.utils import timezone

from letters.models import Letter, LetterState
from signatures.models import Issuance, LetterLog, PendingSignature, PendingWithdrawal, Signature
from signatures.services.batches import batch_seal
from signatures.services.issuance import issuer_key_create
from signatures.services.log import log_open
from tests.signatures.factories import pooled_private_key
from tests.signatures.log_entries import signed_token

LOGGED_STATES = (LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED)


def make_letter(
    campaign, *, slug="open-letter", state=LetterState.CLOSED, logged=True, **fields
) -> Letter:
    """A letter in `state`. Once opened (open, closed, delivered) it has an
    issuer key and a transparency log, unless logged=False: a letter whose
    signatures were all collected before the site kept logs."""
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    data = {
        "title": "Stop logging our keystrokes",
        "summary": "Work laptops record everything we type.",
        "body": "Dear leadership,\n\nplease **stop** logging our keystrokes.",
        "demands": ["Switch it off", "Delete the logs"],
        "goal": 100,
        "text_hash": hashlib.sha256(b"frozen text " + slug.encode()).hexdigest(),
        "opened_at": now - dt.timedelta(days=3),
        "closed_at": now if state in (LetterState.CLOSED, LetterState.DELIVERED) else None,
        **fields,
    }
    letter = Letter.objects.create(campaign=campaign, slug=slug, state=state, **data)
    if logged and state in LOGGED_STATES:
        issuer_key_create(letter=letter, private_key=pooled_private_key())
        log_open(letter=letter)
    return letter


def receipt_for(index: int) -> str:
    return f"receipt-{index:06d}-" + "r" * 20


def make_signatures(
    letter, n: int, *, start_index=0, hours_back=48, withdrawn=False, **fields
) -> list[Signature]:
    """n signatures (receipts are receipt_for(i)), withdrawn at once with
    `withdrawn`. With a log, each is a real token of the letter's issuer key
    accepted as a PendingSignature, and they are sealed, one batch per
    signing hour, by signatures.services.batches.batch_seal; without one,
    the rows are written directly (log_index and salt empty)."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0)
    values = {}
    for i in range(start_index, start_index + n):
        values[i] = {
            "pseudonym": f"pseudo{i:05d}",
            "department": "Engineering",
            "location": "Berlin",
            **fields,
        }
    if not LetterLog.objects.filter(letter=letter).exists():
        rows = [
            Signature(
                id=uuid.uuid4(),
                letter=letter,
                token_hash=secrets.token_hex(32),
                receipt_hash=hashlib.sha256(receipt_for(i).encode()).hexdigest(),
                signed_hour=base - dt.timedelta(hours=(i * 7) % hours_back),
                withdrawn=withdrawn,
                **row,
            )
            for i, row in values.items()
        ]
        return Signature.objects.bulk_create(rows, batch_size=2000)
    by_hour: dict[dt.datetime, list[int]] = {}
    for i in values:
        by_hour.setdefault(base - dt.timedelta(hours=(i * 7) % hours_back), []).append(i)
    receipts = []
    for hour, indexes in sorted(by_hour.items()):
        pending = make_pending(letter, {i: values[i] for i in indexes})
        receipts += [p.receipt_hash for p in pending]
        if withdrawn:
            PendingWithdrawal.objects.bulk_create(
                [PendingWithdrawal(letter=letter, token_hash=p.token_hash) for p in pending]
            )
        batch_seal(letter=letter, force=True, now=hour + dt.timedelta(minutes=30))
    return list(Signature.objects.filter(receipt_hash__in=receipts))


def make_pending(letter, values: dict[int, dict]) -> list[PendingSignature]:
    """Accepted signatures waiting for their batch, as redemption leaves
    them: {receipt index: fields}, each with a real token of the letter."""
    pending = []
    for i, fields in values.items():
        token, signature = signed_token(letter)
        pending.append(
            PendingSignature(
                letter=letter,
                token_hash=hashlib.sha256(token).hexdigest(),
                token=token,
                signature=signature,
                receipt_hash=hashlib.sha256(receipt_for(i).encode()).hexdigest(),
                **{"pseudonym": f"pseudo{i:05d}", **fields},
            )
        )
    return PendingSignature.objects.bulk_create(pending, batch_size=2000)


def make_issuances(letter, n: int) -> None:
    Issuance.objects.bulk_create(
        [Issuance(letter=letter, identity_hmac=secrets.token_hex(32)) for _ in range(n)],
        batch_size=2000,
    )


def make_done_export(letter, *, created_by=None):
    """A finished export of the letter's current state, without rendering a
    PDF (no campaign key needed): what delivery_record accepts."""
    from petitions.models import Export, ExportStatus
    from petitions.services import snapshot

    snap = snapshot(letter, paper="A4", encrypt=False)
    export = Export.objects.create(
        letter=letter,
        state_key=snap.key,
        status=ExportStatus.DONE,
        progress=100,
        count=snap.manifest.count,
        finished_at=timezone.now(),
        created_by=created_by,
    )
    export.directory.mkdir(parents=True)
    (export.directory / "manifest.json").write_bytes(snap.manifest.data)
    return export
