"""Batches: accepted signatures reach the database, and the letter's log,
together, shuffled (docs/security.md, "Batches").

Redemption accepts a signature at once as a PendingSignature (its token spent
from that moment). A batch is sealed when it is due: it holds at least the
campaign's batch_min signatures (default: its k) and batch_interval minutes
have passed since the last seal; or at once when the letter closes, or when
an operator forces it (`manage.py seal_batches --now`). Sealing, in one
transaction:

1. appends the batch to the letter's transparency log (services.log), its
   entries ordered by token hash, not by arrival;
2. writes the Signature rows in random order, all with the hour of the seal,
   so row order, xmin, ctid and dump position say nothing finer than "this
   batch";
3. holds for review the public text of those that match the campaign's
   hold list (services.moderation: rows written in the same random order);
4. applies the withdrawals that waited, and empties the waiting tables.

On PostgreSQL the seal holds both waiting tables in ACCESS EXCLUSIVE mode
from the moment it reads them, and empties them with TRUNCATE (writing any
other letter's waiting rows back, in random order): at the commit the tables
get new, empty files and the old ones are released, whatever snapshots other
transactions on the server hold (a VACUUM FULL after the commit kept the
deleted rows, with the xmin of their arrival, whenever any transaction on
the server was older than the seal; and a process that died between the
commit and the vacuum left them until the next seal). The lock also makes a
redemption that arrives during the seal wait for it and then see the seal:
a second spend of a token just sealed, or a signature for a letter whose
closing seal this is, is refused instead of left to wait for a later batch.

SIGNATURE_BATCHES (config/settings.py) says who seals: Celery beat every
minute ("scheduled", the production default) or, in the embedded default
("at-once"), the request that accepted the signature.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from math import ceil

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from letters.models import Letter
from signatures import tlog
from signatures.models import (
    PendingSignature,
    PendingWithdrawal,
    Signature,
    SignatureBatch,
    SignatureModeration,
)
from signatures.selectors import letter_figures_forget
from signatures.services.log import log_append
from signatures.services.moderation import holds_for_batch

logger = logging.getLogger(__name__)

WAITING_TABLES = (PendingSignature._meta.db_table, PendingWithdrawal._meta.db_table)

# How long a scheduled seal waits for the waiting tables before it leaves the
# batch to the next run: long enough for the redemptions in flight (each
# holds the table for milliseconds) and for an autovacuum of the table, which
# gives way to a lock request after deadlock_timeout (1 s by default); short
# enough that a backup holding the tables (pg_dump keeps them locked until
# it ends) holds up the redemptions that queue behind the seal's lock
# request for no longer than this. A forced seal (closing, --now) waits as
# long as it takes.
SCHEDULED_LOCK_WAIT_MS = 3000
LOCK_NOT_AVAILABLE = "55P03"


@dataclass(frozen=True)
class SealedBatch:
    letter_slug: str
    signatures: int
    withdrawals: int
    tree_size: int
    smallest: int  # the batch size the campaign asks for


def batch_policy(letter: Letter) -> tuple[int, timedelta]:
    """(smallest batch, least time between two) for the letter's campaign."""
    campaign = letter.campaign
    if campaign.batch_min is None and settings.SIGNATURE_BATCHES == "at-once":
        return 1, timedelta(0)
    smallest = campaign.batch_min or campaign.k_threshold
    return smallest, timedelta(minutes=campaign.batch_interval)


def last_sealed_at(letter: Letter):
    batch = SignatureBatch.objects.filter(letter=letter).order_by("-sealed_at").first()
    return batch.sealed_at if batch is not None else None


def next_seal_within(letter: Letter, *, now=None) -> timedelta | None:
    """How long until the next batch can be sealed, if it is full by then;
    None when the letter seals each signature at once."""
    smallest, interval = batch_policy(letter)
    if smallest == 1 and not interval:
        return None
    last = last_sealed_at(letter)
    if last is None:
        return timedelta(0)
    return max(timedelta(0), last + interval - (now or timezone.now()))


def next_batch_within_minutes(letter: Letter, *, now=None) -> int | None:
    """next_seal_within in whole minutes, rounded up, as the signing page,
    the signing answer and the receipt say it ("within about N minutes"):
    0 when the next batch only waits to be full, None when the letter seals
    each signature at once."""
    wait = next_seal_within(letter, now=now)
    return None if wait is None else ceil(wait.total_seconds() / 60)


def batch_is_due(letter: Letter, *, signatures: int, withdrawals: int, now=None) -> bool:
    """Whether the `signatures` and `withdrawals` waiting make a batch.

    Only signatures fill a batch that holds any: a withdrawal names its
    signature and hides no one, and counted in, withdrawals let whoever
    holds a few receipts make public a batch holding one new signature.
    Withdrawals alone make a batch of the same smallest size."""
    if not signatures and not withdrawals:
        return False
    if not letter.is_open:
        return True  # closed or past its deadline: nothing more will join
    smallest, interval = batch_policy(letter)
    filling = signatures if signatures else withdrawals
    if filling < smallest:
        return False
    last = last_sealed_at(letter)
    return last is None or last + interval <= (now or timezone.now())


def after_acceptance(*, letter: Letter) -> bool:
    """Called by redemption after a signature was accepted: in the "at-once"
    configuration, seal the letter's batch now if it is due. Returns whether
    the new signature is counted already."""
    if settings.SIGNATURE_BATCHES != "at-once":
        return False
    sealed = batch_seal(letter=letter)
    return sealed is not None


def batch_seal(*, letter: Letter, force: bool = False, now=None) -> SealedBatch | None:
    """Seal what waits for the letter if it is due (or whatever its size with
    `force`). Returns the batch, or None when nothing was sealed."""
    now = now or timezone.now()
    with transaction.atomic():
        # One seal at a time per letter; acceptance does not read this lock.
        locked = Letter.objects.select_for_update().select_related("campaign").get(pk=letter.pk)
        signatures, withdrawals = _waiting_counts(locked)
        if not signatures and not withdrawals:
            return None
        if not force and not batch_is_due(
            locked, signatures=signatures, withdrawals=withdrawals, now=now
        ):
            return None
        if not _take_waiting_tables(wait=force):
            logger.info("The waiting tables are in use (a backup?): the next run seals")
            return None
        # Read under the lock: every redemption that started before it is in.
        pending = list(PendingSignature.objects.filter(letter_id=locked.pk))
        withdrawals = list(PendingWithdrawal.objects.filter(letter_id=locked.pk))
        sealed = _seal(locked, pending, withdrawals, now=now)
    letter_figures_forget(locked)
    logger.info(
        "Sealed a batch: %d signatures, %d withdrawals, log size %d",
        sealed.signatures,
        sealed.withdrawals,
        sealed.tree_size,
    )
    return sealed


def _seal(letter: Letter, pending, withdrawals, *, now) -> SealedBatch:
    sealed_tokens = set(
        Signature.objects.filter(
            letter_id=letter.pk, token_hash__in=[p.token_hash for p in pending]
        ).values_list("token_hash", flat=True)
    )
    # A second spend sealed already: a safeguard, since the seal's hold on
    # the waiting tables makes one wait for the seal and be refused.
    fresh = [p for p in pending if p.token_hash not in sealed_tokens]
    signed = {p.token_hash for p in fresh}
    withdrawable = set(
        Signature.objects.filter(
            letter_id=letter.pk,
            withdrawn=False,
            token_hash__in=[w.token_hash for w in withdrawals],
        ).values_list("token_hash", flat=True)
    ) | (signed & {w.token_hash for w in withdrawals})

    salts = {p.token_hash: tlog.new_salt() for p in fresh}
    # Entries in the order of their token hash; a signature before its own
    # withdrawal when both are in this batch.
    entries = sorted(
        [(p.token_hash, 0, _signature_entry(p, salts[p.token_hash])) for p in fresh]
        + [(h, 1, tlog.withdrawal_entry(token_sha256=h)) for h in withdrawable]
    )
    checkpoint = log_append(letter=letter, entries=[entry for _h, _k, entry in entries])
    first_index = checkpoint.tree_size - len(entries)
    log_index = {h: first_index + i for i, (h, kind, _e) in enumerate(entries) if kind == 0}

    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = [
        Signature(
            id=p.id,
            letter_id=letter.pk,
            token_hash=p.token_hash,
            receipt_hash=p.receipt_hash,
            pseudonym=p.pseudonym,
            public_name=p.public_name,
            reveal_at=p.reveal_at,
            department=p.department,
            location=p.location,
            comment=p.comment,
            attestations=p.attestations,
            signed_hour=hour,
            withdrawn=p.token_hash in withdrawable,
            salt=salts[p.token_hash],
            log_index=log_index[p.token_hash],
        )
        for p in fresh
    ]
    # Random order: what PostgreSQL's row order and pg_dump would otherwise
    # keep of the order of arrival.
    secrets.SystemRandom().shuffle(rows)
    Signature.objects.bulk_create(rows, batch_size=1000)
    # Counted at once; only their text waits for an organizer's review.
    SignatureModeration.objects.bulk_create(
        holds_for_batch(letter=letter, signatures=rows), batch_size=1000
    )
    earlier = withdrawable - signed
    if earlier:
        Signature.objects.filter(letter_id=letter.pk, token_hash__in=earlier).update(withdrawn=True)
    _empty_waiting_tables(letter, pending, withdrawals)
    SignatureBatch.objects.create(
        letter=letter,
        sealed_at=now,
        signatures=len(fresh),
        withdrawals=len(withdrawable),
        tree_size=checkpoint.tree_size,
    )
    return SealedBatch(
        letter.slug, len(fresh), len(withdrawable), checkpoint.tree_size, batch_policy(letter)[0]
    )


def _signature_entry(pending: PendingSignature, salt: str) -> bytes:
    return tlog.signature_entry(
        token=bytes(pending.token),
        signature=bytes(pending.signature),
        fields_sha256=tlog.fields_sha256(
            salt=salt,
            pseudonym=pending.pseudonym,
            public_name=pending.public_name,
            reveal_at=pending.reveal_at,
            department=pending.department,
            location=pending.location,
            comment=pending.comment,
            attestations=pending.attestations,
        ),
    )


def _waiting_counts(letter: Letter) -> tuple[int, int]:
    """(signatures, withdrawals) waiting for the letter's next batch."""
    return (
        PendingSignature.objects.filter(letter_id=letter.pk).count(),
        PendingWithdrawal.objects.filter(letter_id=letter.pk).count(),
    )


def _take_waiting_tables(*, wait: bool) -> bool:
    """Hold the waiting tables against every other use until the seal's
    transaction ends (PostgreSQL; SQLite has one writer at a time anyway).
    Without `wait`, give up after SCHEDULED_LOCK_WAIT_MS: returns False."""
    if connection.vendor != "postgresql":
        return True
    tables = ", ".join(connection.ops.quote_name(table) for table in WAITING_TABLES)
    lock = f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"
    with connection.cursor() as cursor:
        if wait:
            cursor.execute(lock)
            return True
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        try:
            # A savepoint: a timeout undoes this step only, and its setting.
            with transaction.atomic():
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)", [f"{SCHEDULED_LOCK_WAIT_MS}ms"]
                )
                cursor.execute(lock)
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                return False
            raise
    return True


def _empty_waiting_tables(letter: Letter, pending, withdrawals) -> None:
    """Remove what this batch sealed from the waiting tables.

    PostgreSQL: TRUNCATE (the tables are held by _take_waiting_tables), and
    other letters' waiting rows written back in random order. A DELETE
    would leave the rows in the pages until a vacuum, and a vacuum keeps
    them while any older transaction runs anywhere on the server."""
    if connection.vendor != "postgresql":
        PendingSignature.objects.filter(pk__in=[p.pk for p in pending]).delete()
        PendingWithdrawal.objects.filter(pk__in=[w.pk for w in withdrawals]).delete()
        return
    other_pending = list(PendingSignature.objects.exclude(letter_id=letter.pk))
    other_withdrawals = list(PendingWithdrawal.objects.exclude(letter_id=letter.pk))
    tables = ", ".join(connection.ops.quote_name(table) for table in WAITING_TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
    shuffle = secrets.SystemRandom().shuffle
    shuffle(other_pending)
    shuffle(other_withdrawals)
    PendingSignature.objects.bulk_create(other_pending)
    PendingWithdrawal.objects.bulk_create(other_withdrawals)


def batches_seal_due(*, slug: str | None = None, force: bool = False, now=None) -> list:
    """Seal every letter's due batch (the beat task and `manage.py
    seal_batches`); with `force`, whatever waits, whatever its size."""
    waiting = set(PendingSignature.objects.values_list("letter_id", flat=True).distinct())
    waiting |= set(PendingWithdrawal.objects.values_list("letter_id", flat=True).distinct())
    letters = Letter.objects.filter(pk__in=waiting).select_related("campaign")
    if slug is not None:
        letters = letters.filter(slug=slug)
    sealed = []
    for letter in letters:
        batch = batch_seal(letter=letter, force=force, now=now)
        if batch is not None:
            sealed.append(batch)
    return sealed


def on_letter_closed(sender, *, letter, **kwargs) -> None:
    """letters.signals.letter_closed receiver: everything that waits is
    sealed in the closing transaction, whatever its size."""
    batch_seal(letter=letter, force=True)
