"""Reads of a letter's transparency log: checkpoints, tiles, entry bundles,
entries and proofs (the formats are signatures.tlog's; the writes are
signatures.services.log's)."""

from __future__ import annotations

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
