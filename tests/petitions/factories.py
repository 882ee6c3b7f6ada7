"""Factories of the export tests: letters and signatures made directly."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from django.utils import timezone

from letters.models import Letter, LetterState
from signatures.models import Issuance, Signature


def make_letter(campaign, *, slug="open-letter", state=LetterState.CLOSED, **fields) -> Letter:
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
    return Letter.objects.create(campaign=campaign, slug=slug, state=state, **data)


def receipt_for(index: int) -> str:
    return f"receipt-{index:06d}-" + "r" * 20


def make_signatures(letter, n: int, *, start_index=0, hours_back=48, **fields) -> list[Signature]:
    """n counted signatures; receipts are receipt_for(i)."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows = []
    for i in range(start_index, start_index + n):
        values = {
            "pseudonym": f"pseudo{i:05d}",
            "department": "Engineering",
            "location": "Berlin",
            "signed_hour": base - dt.timedelta(hours=(i * 7) % hours_back),
            **fields,
        }
        rows.append(
            Signature(
                id=uuid.uuid4(),
                letter=letter,
                token_hash=secrets.token_hex(32),
                receipt_hash=hashlib.sha256(receipt_for(i).encode()).hexdigest(),
                **values,
            )
        )
    return Signature.objects.bulk_create(rows, batch_size=2000)


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
