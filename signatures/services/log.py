"""The letter's transparency log: created when the letter opens, appended to
when a batch is sealed (signatures.tlog has the formats; the reads are in
signatures.log_selectors).

Only this module writes LetterLog, LogEntry, LogTile and LogCheckpoint rows,
and an append holds the log row locked from the first read of the tree's
edge to the new checkpoint, so appends to one letter's log are serialized and
each checkpoint's tree extends the one before.
"""

from __future__ import annotations

import json
from functools import reduce
from operator import or_
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from letters.models import Letter
from letters.services import base_slug
from signatures import keys, tlog
from signatures.errors import LetterNotOpen
from signatures.guarded_insert import insert_row
from signatures.models import LetterLog, LogCheckpoint, LogEntry, LogTile
from signatures.services.common import issuer_row

# Rows per INSERT when an append writes its entries.
ENTRY_INSERT_BATCH = 2000
APPENDED_KINDS = ("signature", "withdrawal")


def log_origin(letter: Letter) -> str:
    """`<host>/letters/<slug>`: SITE_URL's host, with its port unless it is
    the scheme's default (C2SP tlog-checkpoint: a schema-less URL)."""
    url = urlsplit(settings.SITE_URL)
    host = url.netloc.rpartition("@")[2].lower()
    default_port = {"http": ":80", "https": ":443"}.get(url.scheme)
    if default_port and host.endswith(default_port):
        host = host.removesuffix(default_port)
    # The short name without an unlisted letter's link key: the origin names
    # the log's key, which the petition PDF prints for leadership.
    return f"{host}/letters/{base_slug(letter)}"


def log_open(*, letter: Letter) -> LetterLog:
    """The letter's log, created with its key, entry 0 (the letter's text
    hash and issuer key) and the first checkpoint (size 1) unless it exists.
    Idempotent, also under concurrency (the row is inserted with ON CONFLICT
    DO NOTHING on the letter). Needs the issuer key (LetterNotOpen without).
    """
    existing = LetterLog.objects.filter(letter=letter).first()
    if existing is not None:
        return existing
    if not letter.text_hash:
        raise LetterNotOpen(_("This letter has not been opened for signatures."))
    issuer = issuer_row(letter)
    spki_der = serialization.load_pem_public_key(issuer.public_key_pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_key = ed25519.Ed25519PrivateKey.generate()
    public_key = tlog.public_key_bytes(private_key)
    with transaction.atomic():
        created = insert_row(
            LetterLog,
            {
                "letter_id": letter.pk,
                "origin": log_origin(letter),
                "public_key": public_key,
                "private_key_encrypted": keys.encrypt_log_key(private_key, letter_id=letter.pk),
            },
            unless_exists=("letter_id",),
        )
        log = LetterLog.objects.select_for_update().get(letter=letter)
        if created:
            entry = tlog.letter_entry(text_sha256=letter.text_hash, issuer_spki_der=spki_der)
            _append(log, [entry], signatures=0, withdrawals=0)
    return log


def log_append(*, letter: Letter, entries: list[bytes]) -> LogCheckpoint:
    """Append `entries` (signature and withdrawal entries, canonical JSON
    from signatures.tlog) in this order, and sign and store the checkpoint
    of the new tree with the running counts. Returns it (the latest one,
    unchanged, when `entries` is empty).

    Runs inside the caller's transaction (the batch seal) when there is
    one: nothing is visible before it commits, and a rollback leaves the log
    as it was. Creates the log first if the letter has none (a letter opened
    before logs existed). ValueError for an entry that is not one of
    signatures.tlog's signature or withdrawal entries.
    """
    signatures = withdrawals = 0
    for entry in entries:
        kind = _appended_kind(entry)
        if kind == "signature":
            signatures += 1
        else:
            withdrawals += 1
    with transaction.atomic():
        log_open(letter=letter)
        log = LetterLog.objects.select_for_update().get(letter=letter)
        if not entries:
            return LogCheckpoint.objects.get(letter_id=letter.pk, tree_size=log.size)
        return _append(log, entries, signatures=signatures, withdrawals=withdrawals)


def _appended_kind(entry: bytes) -> str:
    if not isinstance(entry, bytes) or len(entry) > tlog.MAX_ENTRY_SIZE:
        raise ValueError("a log entry is bytes of at most 65,535")
    try:
        parsed = json.loads(entry)
    except ValueError:
        raise ValueError("a log entry is JSON") from None
    if not isinstance(parsed, dict) or parsed.get("kind") not in APPENDED_KINDS:
        raise ValueError("only signature and withdrawal entries are appended")
    if tlog.canonical_json(parsed) != entry:
        raise ValueError("a log entry is canonical JSON (signatures.tlog.canonical_json)")
    return parsed["kind"]


def _append(
    log: LetterLog, entries: list[bytes], *, signatures: int, withdrawals: int
) -> LogCheckpoint:
    """Write the entries, the tiles they change and the new checkpoint.
    `log` is locked by the caller; `signatures` and `withdrawals` count the
    entries' kinds."""
    letter_id = log.letter_id
    size = log.size
    positions = tlog.edge_tile_positions(size)
    stored: dict[tuple[int, int], LogTile] = {}
    if positions:
        edge_rows = LogTile.objects.filter(letter_id=letter_id).filter(
            reduce(or_, (Q(level=level, index=index) for level, index in positions.items()))
        )
        stored = {(row.level, row.index): row for row in edge_rows}
    edge = {level: bytes(stored[(level, index)].hashes) for level, index in positions.items()}
    changed = tlog.tiles_after_append(
        size=size, edge=edge, leaf_hashes=[tlog.leaf_hash(entry) for entry in entries]
    )
    LogEntry.objects.bulk_create(
        [
            LogEntry(letter_id=letter_id, index=size + offset, data=entry)
            for offset, entry in enumerate(entries)
        ],
        batch_size=ENTRY_INSERT_BATCH,
    )
    grown = []
    for key, data in changed.items():
        if key in stored:
            stored[key].hashes = data
            grown.append(stored[key])
    LogTile.objects.bulk_update(grown, ["hashes"])
    LogTile.objects.bulk_create(
        [
            LogTile(letter_id=letter_id, level=level, index=index, hashes=data)
            for (level, index), data in changed.items()
            if (level, index) not in stored
        ]
    )
    # The new tree's root needs only the rightmost tiles of each level: the
    # ones this append wrote, and the edge tiles it left as they were.
    tiles = {key: bytes(row.hashes) for key, row in stored.items()} | changed
    new_size = size + len(entries)
    root = tlog.tree_root(new_size, tlog.TileNodes(lambda level, index: tiles[(level, index)]))
    private_key = keys.decrypt_log_key(
        log.private_key_encrypted, letter_id=letter_id, public_key=bytes(log.public_key)
    )
    note = tlog.sign_note(
        tlog.checkpoint_body(log.origin, new_size, root), name=log.origin, private_key=private_key
    )
    previous = (
        LogCheckpoint.objects.filter(letter_id=letter_id, tree_size=size)
        .only("signature_count", "withdrawal_count")
        .first()
    )
    checkpoint = LogCheckpoint.objects.create(
        letter_id=letter_id,
        tree_size=new_size,
        root_hash=root,
        note=note,
        signature_count=(previous.signature_count if previous else 0) + signatures,
        withdrawal_count=(previous.withdrawal_count if previous else 0) + withdrawals,
    )
    log.size = new_size
    log.save(update_fields=["size"])
    return checkpoint
