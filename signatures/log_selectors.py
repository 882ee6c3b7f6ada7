"""Reads of a letter's transparency log: checkpoints, tiles, entry bundles,
entries and proofs (the formats are signatures.tlog's; the writes are
signatures.services.log's)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from signatures import tlog
from signatures.models import LetterLog, LogCheckpoint, LogEntry, LogTile

CHECKPOINTS_PAGE_MAX = 1000


def letter_log(letter) -> LetterLog | None:
    """The letter's log, without its private key; None before it exists."""
    return LetterLog.objects.filter(letter=letter).defer("private_key_encrypted").first()


def latest_checkpoint(letter) -> LogCheckpoint | None:
    return LogCheckpoint.objects.filter(letter=letter).order_by("-tree_size").first()


def log_checkpoints(letter, *, after: int = 0, limit: int = CHECKPOINTS_PAGE_MAX):
    """Published checkpoints with a tree size above `after`, smallest first,
    at most `limit` of them."""
    return list(
        LogCheckpoint.objects.filter(letter=letter, tree_size__gt=after).order_by("tree_size")[
            : min(limit, CHECKPOINTS_PAGE_MAX)
        ]
    )


def log_tile(letter, *, level: int, index: int, width: int = tlog.TILE_WIDTH) -> bytes | None:
    """The first `width` hashes of tile (level, index), or None if the tree
    does not have that many there yet."""
    row = LogTile.objects.filter(letter=letter, level=level, index=index).only("hashes").first()
    if row is None or len(row.hashes) < width * tlog.HASH_SIZE:
        return None
    return bytes(row.hashes)[: width * tlog.HASH_SIZE]


def log_entries(letter, *, start: int = 0, end: int | None = None) -> list[bytes]:
    """Entries [start, end) of the log (to its end without `end`), in order."""
    rows = LogEntry.objects.filter(letter=letter, index__gte=start)
    if end is not None:
        rows = rows.filter(index__lt=end)
    return [bytes(data) for data in rows.order_by("index").values_list("data", flat=True)]


def log_entry_bundle(letter, *, index: int, width: int = tlog.TILE_WIDTH) -> bytes | None:
    """Entry bundle `index` with `width` entries, or None if the log does not
    have them all yet."""
    start = index * tlog.TILE_WIDTH
    entries = log_entries(letter, start=start, end=start + width)
    if len(entries) != width:
        return None
    return tlog.entry_bundle(entries)


def log_nodes(letter) -> tlog.TileNodes:
    """tlog.TileNodes over the letter's stored tiles, each read once."""

    def tile(level: int, index: int) -> bytes:
        row = LogTile.objects.filter(letter=letter, level=level, index=index).only("hashes")
        found = row.first()
        return bytes(found.hashes) if found is not None else b""

    return tlog.TileNodes(tile)


def _require_size(letter, tree_size: int) -> None:
    log = letter_log(letter)
    if log is None or not 0 < tree_size <= log.size:
        raise ValueError(f"the log has no tree of size {tree_size}")


def log_root(*, letter, tree_size: int) -> bytes:
    """The root of the log's tree of `tree_size` (any size up to the latest)."""
    _require_size(letter, tree_size)
    return tlog.tree_root(tree_size, log_nodes(letter))


def log_inclusion_proof(*, letter, index: int, tree_size: int) -> list[bytes]:
    """The RFC 6962 inclusion proof of entry `index` in the tree of `tree_size`."""
    _require_size(letter, tree_size)
    return tlog.inclusion_proof(index, tree_size, log_nodes(letter))


def log_consistency_proof(*, letter, old_size: int, new_size: int) -> list[bytes]:
    """The RFC 6962 consistency proof from the tree of `old_size` to `new_size`."""
    _require_size(letter, new_size)
    return tlog.consistency_proof(old_size, new_size, log_nodes(letter))


@dataclass(frozen=True)
class LogTally:
    """What the first `tree_size` entries of a letter's log hold."""

    tree_size: int
    root: bytes  # the RFC 6962 root those entries hash to
    signatures: int  # signature entries
    withdrawals: int  # withdrawal entries
    # {token hash (hex SHA-256 of the token, as Signature.token_hash): index}
    # of each signature entry that no withdrawal among these entries names.
    counted: dict[str, int]


TALLY_CHUNK = 2000


def log_tally(letter, *, tree_size: int) -> LogTally:
    """Read entries [0, tree_size) once, in order, without keeping them: the
    root they hash to and the signatures they count. ValueError when fewer
    entries are stored, or for an entry that is not one of signatures.tlog's
    (a token signed twice, a withdrawal of no signature before it)."""
    leaves: list[bytes] = []
    signed: dict[str, int] = {}
    withdrawn: set[str] = set()
    rows = (
        LogEntry.objects.filter(letter=letter, index__lt=tree_size)
        .order_by("index")
        .values_list("index", "data")
    )
    for index, data in rows.iterator(chunk_size=TALLY_CHUNK):
        data = bytes(data)
        if index != len(leaves):
            raise ValueError(f"the log has no entry {len(leaves)}")
        leaves.append(tlog.leaf_hash(data))
        kind, token_hash = _tallied(index, data)
        if kind == "signature":
            if token_hash in signed:
                raise ValueError(f"entry {index} signs a token already signed")
            signed[token_hash] = index
        elif kind == "withdrawal":
            if token_hash not in signed or token_hash in withdrawn:
                raise ValueError(f"entry {index} withdraws no signature before it")
            withdrawn.add(token_hash)
    if len(leaves) != tree_size:
        raise ValueError(f"the log has {len(leaves)} entries, not {tree_size}")
    return LogTally(
        tree_size=tree_size,
        root=tlog.root_from_leaves(leaves),
        signatures=len(signed),
        withdrawals=len(withdrawn),
        counted={token: index for token, index in signed.items() if token not in withdrawn},
    )


def _tallied(index: int, data: bytes) -> tuple[str, str]:
    """(kind, token hash) of an entry; ("letter", "") for entry 0."""
    try:
        entry = json.loads(data)
        kind = entry["kind"]
        if kind == "letter" and index == 0:
            return kind, ""
        if kind == "signature":
            token = entry["token"]
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return kind, hashlib.sha256(raw).hexdigest()
        if kind == "withdrawal":
            return kind, str(entry["token_sha256"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise ValueError(f"entry {index} of the log is not one of its entries")
