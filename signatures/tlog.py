"""The letter's transparency log, without Django: entries, Merkle trees,
tiles and signed checkpoints (docs/signing-protocol.md, "The log").

It follows the specifications that Go's checksum database, Sigstore and the
Certificate Transparency tiles ecosystem use, so that tools nobody here wrote
can audit a letter's log:

- hashing as in RFC 6962 (RFC 9162, section 2.1): a leaf is
  SHA-256(0x00 || entry), a node SHA-256(0x01 || left || right), and the
  tree of n leaves splits at the largest power of two below n;
- C2SP tlog-tiles: the tree is served as tiles of 256 hashes (height 8).
  A level-0 tile holds leaf hashes; a hash in a level-L tile (L >= 1) is the
  root of a full tile at level L-1. Entries are served in bundles of 256,
  each entry preceded by its length (2 bytes, big-endian);
- C2SP tlog-checkpoint and signed-note: the tree head is the text
  "<origin>\\n<tree size>\\n<base64 root>\\n", signed with Ed25519.

A "node" below is the root of a complete subtree: node (level, index) covers
the leaves [index * 2**level, (index + 1) * 2**level). Functions that need
stored hashes take `node(level, index) -> bytes`; `TileNodes` answers it from
tiles.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

HASH_SIZE = 32
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, or entries, in a full tile
MAX_ENTRY_SIZE = 0xFFFF  # an entry's length must fit the bundle's 2 bytes
MAX_TILE_LEVEL = 63
VARIANT = "RSABSSA-SHA384-PSS-Randomized"
EMPTY_TREE_ROOT = hashlib.sha256(b"").digest()  # RFC 9162: MTH({}) = SHA-256()

NodeReader = Callable[[int, int], bytes]


class LogFormatError(ValueError):
    """Malformed log data: a path, a bundle, a checkpoint, a key."""


class NoteVerificationFailed(ValueError):
    """A signed note does not carry a valid signature of the expected key."""


# --- encodings and entries --------------------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 4648, section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def canonical_json(obj) -> bytes:
    """The one encoding of an entry: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def letter_entry(*, text_sha256: str, issuer_spki_der: bytes) -> bytes:
    """Entry 0: the letter's text hash and the issuer key of every token."""
    return canonical_json(
        {
            "kind": "letter",
            "text_sha256": text_sha256,
            "issuer_key": b64url(issuer_spki_der),
            "variant": VARIANT,
        }
    )


def signature_entry(*, token: bytes, signature: bytes, fields_sha256: str) -> bytes:
    """A signature: the spent token, its RSA-PSS signature, and a salted hash
    of what the signer chose to show (see fields_sha256)."""
    return canonical_json(
        {
            "kind": "signature",
            "token": b64url(token),
            "signature": b64url(signature),
            "fields_sha256": fields_sha256,
        }
    )


def withdrawal_entry(*, token_sha256: str) -> bytes:
    """A withdrawal: the hex SHA-256 of the withdrawn signature's token."""
    return canonical_json({"kind": "withdrawal", "token_sha256": token_sha256})


def new_salt() -> str:
    """A fresh salt for fields_sha256: 16 random bytes, base64url."""
    return b64url(secrets.token_bytes(16))


def fields_sha256(
    *,
    salt: str,
    pseudonym: str,
    public_name: str,
    reveal_at: int | None,
    department: str,
    location: str,
    comment: str,
    attestations,
) -> str:
    """The hex SHA-256 that commits a signature entry to its public fields.

    The salt keeps a field that moderators hide later from being guessed
    from the hash; the public list shows the salt beside the shown fields so
    that anyone can recompute it.
    """
    return hashlib.sha256(
        canonical_json(
            {
                "attestations": sorted(int(a) for a in attestations),
                "comment": comment,
                "department": department,
                "location": location,
                "pseudonym": pseudonym,
                "public_name": public_name,
                "reveal_at": reveal_at,
                "salt": salt,
            }
        )
    ).hexdigest()


# --- RFC 6962 hashing ----------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaf_hashes: list[bytes]) -> bytes:
    """MTH of a list of leaf hashes, folding complete subtrees left to right
    (the same result as RFC 6962's recursion, in one pass)."""
    if not leaf_hashes:
        return EMPTY_TREE_ROOT
    # stack[i] = (level, hash) of complete subtrees, sizes strictly decreasing.
    stack: list[tuple[int, bytes]] = []
    for value in leaf_hashes:
        level = 0
        while stack and stack[-1][0] == level:
            value = node_hash(stack.pop()[1], value)
            level += 1
        stack.append((level, value))
    root = stack.pop()[1]
    while stack:
        root = node_hash(stack.pop()[1], root)
    return root


def subtree_hash(start: int, end: int, node: NodeReader) -> bytes:
    """MTH(D[start:end]) for a range that RFC 6962's recursion produces
    (start aligned to the largest power of two below end - start)."""
    size = end - start
    if size == 1 or size & (size - 1) == 0:
        level = size.bit_length() - 1
        return node(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(start, start + k, node), subtree_hash(start + k, end, node))


def tree_root(size: int, node: NodeReader) -> bytes:
    return EMPTY_TREE_ROOT if size == 0 else subtree_hash(0, size, node)


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start += k
    proof.reverse()
    return proof


def consistency_proof(old_size: int, new_size: int, node: NodeReader) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[0:new_size])."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    proof: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:  # SUBPROOF(m, D[start:end], whole)
        k = _split(end - start)
        if m <= k:
            proof.append(subtree_hash(start + k, end, node))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, node))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(subtree_hash(start, end, node))
    proof.reverse()
    return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` (RFC 9162 2.1.3.2), or
    ValueError when the proof has the wrong length for (index, size)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: whether `proof` shows the tree of old_size (old_root)
    to be a prefix of the tree of new_size (new_root)."""
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        proof = [old_root, *proof]
    if not proof:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- tiles (C2SP tlog-tiles) ---------------------------------------------------------


def tile_index_path(index: int) -> str:
    """N as zero-padded 3-digit path elements, all but the last with an x:
    1234067 -> "x001/x234/067"."""
    if index < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([f"x{g}" for g in groups[:-1]] + groups[-1:])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """The path under the log's prefix: "tile/<L>/<N>[.p/<W>]", with L =
    "entries" for an entry bundle."""
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"a tile's width is 1 to {TILE_WIDTH}")
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{tile_index_path(index)}{suffix}"


def _decimal(text: str, *, low: int, high: int) -> int:
    """A decimal with no sign, no extra leading zero, in [low, high]."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise LogFormatError(f"not a plain decimal: {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise LogFormatError(f"{value} is not between {low} and {high}")
    return value


def parse_tile_path(path: str) -> tuple[int | str, int, int]:
    """(level, index, width) of "<L>/<N>[.p/<W>]" (the part after "tile/"),
    level being "entries" for an entry bundle. Only the one canonical
    spelling of each tile is accepted (LogFormatError otherwise)."""
    if len(path) > 200:
        raise LogFormatError("tile path too long")
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        width = _decimal(parts[-1], low=1, high=TILE_WIDTH - 1)
        parts = parts[:-2] + [parts[-2][:-2]]
    if len(parts) < 2:
        raise LogFormatError("a tile path is <level>/<index>")
    level_text, groups = parts[0], parts[1:]
    level: int | str = (
        "entries" if level_text == "entries" else _decimal(level_text, low=0, high=MAX_TILE_LEVEL)
    )
    index = 0
    for position, group in enumerate(groups):
        last = position == len(groups) - 1
        digits = group if last else group[1:]
        if (not last and group[:1] != "x") or len(digits) != 3:
            raise LogFormatError(f"bad tile index element {group!r}")
        if not digits.isascii() or not digits.isdigit():
            raise LogFormatError(f"bad tile index element {group!r}")
        index = index * 1000 + int(digits)
    if tile_index_path(index) != "/".join(groups):
        raise LogFormatError("tile index has extra leading groups")
    return level, index, width


def level_width(size: int, level: int) -> int:
    """How many level-`level` tile hashes a tree of `size` has: full tiles
    at the level below (size // 256**level)."""
    return size >> (TILE_HEIGHT * level)


def tiles_for_size(size: int) -> Iterator[tuple[int, int, int]]:
    """(level, index, width) of every tile of a tree of `size`, full and
    partial, level by level."""
    level = 0
    while True:
        count = level_width(size, level)
        if count == 0:
            return
        for index in range(count // TILE_WIDTH):
            yield level, index, TILE_WIDTH
        if count % TILE_WIDTH:
            yield level, count // TILE_WIDTH, count % TILE_WIDTH
        level += 1


def tile_hashes(data: bytes) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise LogFormatError("tile data is not a whole number of hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def edge_tile_positions(size: int) -> dict[int, int]:
    """{level: index} of the partial (rightmost, not full) tile at each level
    of a tree of `size`: the only tiles an append changes."""
    edge = {}
    level = 0
    while level_width(size, level):
        count = level_width(size, level)
        if count % TILE_WIDTH:
            edge[level] = count // TILE_WIDTH
        level += 1
    return edge


def tiles_after_append(
    *, size: int, edge: dict[int, bytes], leaf_hashes: list[bytes]
) -> dict[tuple[int, int], bytes]:
    """The tiles an append of `leaf_hashes` to a tree of `size` writes.

    `edge[level]` is the data of the partial tile at that level (positions
    from edge_tile_positions; missing means none). Returns {(level, index):
    data} for every tile that grew or is new, its data in full.
    """
    changed: dict[tuple[int, int], bytes] = {}
    incoming = leaf_hashes
    level = 0
    while incoming:
        count = level_width(size, level)  # hashes at this level before the append
        index = count // TILE_WIDTH
        current = bytearray(edge.get(level, b""))
        if len(current) != (count % TILE_WIDTH) * HASH_SIZE:
            raise ValueError(f"edge tile at level {level} has the wrong width")
        completed: list[bytes] = []  # roots of the tiles this append fills
        for value in incoming:
            current += value
            if len(current) == TILE_WIDTH * HASH_SIZE:
                changed[(level, index)] = bytes(current)
                completed.append(root_from_leaves(tile_hashes(bytes(current))))
                index += 1
                current = bytearray()
        if current:
            changed[(level, index)] = bytes(current)
        incoming = completed
        level += 1
    return changed


class TileNodes:
    """node(level, index) from tiles: `tile(level, index)` returns a stored
    tile's data (a longer, later version of a partial tile does as well:
    hashes never change once written). Tiles are read once per instance."""

    def __init__(self, tile: Callable[[int, int], bytes]):
        self._tile = tile
        self._cache: dict[tuple[int, int], bytes] = {}

    def tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            self._cache[key] = self._tile(level, index)
        return self._cache[key]

    def __call__(self, level: int, index: int) -> bytes:
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # the first tile hash under this node
        tile_index, offset = divmod(first, TILE_WIDTH)
        data = self.tile(tile_level, tile_index)
        end = offset + (1 << height)
        if len(data) < end * HASH_SIZE:
            raise LookupError(f"node ({level}, {index}) is not in the stored tiles")
        return root_from_leaves(tile_hashes(data[offset * HASH_SIZE : end * HASH_SIZE]))


# --- entry bundles ---------------------------------------------------------------------


def entry_bundle(entries: list[bytes]) -> bytes:
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError("an entry is longer than 65,535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    entries = []
    position = 0
    while position < len(data):
        if position + 2 > len(data):
            raise LogFormatError("entry bundle ends inside a length")
        length = int.from_bytes(data[position : position + 2], "big")
        position += 2
        if position + length > len(data):
            raise LogFormatError("entry bundle ends inside an entry")
        entries.append(data[position : position + length])
        position += length
    return entries


# --- checkpoints and signed notes (C2SP tlog-checkpoint, signed-note) --------------------

SIGNATURE_TYPE_ED25519 = b"\x01"
NOTE_SIGNATURE_PREFIX = "\u2014 "  # em dash, space


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint body (extension lines ignored)."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0]:
        raise LogFormatError("a checkpoint is origin, size and root, each on a line")
    size = _decimal(lines[1], low=0, high=2**63 - 1)
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise LogFormatError("the checkpoint's root is not base64") from None
    if len(root) != HASH_SIZE:
        raise LogFormatError("the checkpoint's root is not a SHA-256 hash")
    return lines[0], size, root


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + SIGNATURE_TYPE_ED25519 + public_key).digest()[:4]


def public_key_bytes(private_key: ed25519.Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def verifier_key(name: str, public_key: bytes) -> str:
    """`<name>+<8 hex key id>+<base64(0x01 || public key)>`."""
    if not _valid_key_name(name):
        raise ValueError(f"{name!r} is not a valid key name")
    encoded = base64.b64encode(SIGNATURE_TYPE_ED25519 + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, 32-byte public key) of a verifier key string."""
    parts = text.split("+", 2)  # the base64 key may hold "+" itself
    if len(parts) != 3 or not _valid_key_name(parts[0]) or len(parts[1]) != 8:
        raise LogFormatError("a verifier key is <name>+<key id>+<key>")
    name, id_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
        expected_id = bytes.fromhex(id_hex)
    except (binascii.Error, ValueError):
        raise LogFormatError("the verifier key is not well encoded") from None
    if len(raw) != 33 or raw[:1] != SIGNATURE_TYPE_ED25519:
        raise LogFormatError("the verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]) != expected_id:
        raise LogFormatError("the verifier key's id does not match its key")
    return name, expected_id, raw[1:]


def sign_note(text: str, *, name: str, private_key: ed25519.Ed25519PrivateKey) -> str:
    """The signed note: text, a blank line, one signature line."""
    if not text.endswith("\n"):
        raise ValueError("a note's text ends with a newline")
    signature = private_key.sign(text.encode("utf-8"))
    public = public_key_bytes(private_key)
    encoded = base64.b64encode(key_id(name, public) + signature).decode("ascii")
    return f"{text}\n{NOTE_SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note: str, verifier: str) -> str:
    """The text of `note` if it carries a valid signature of `verifier` (a
    verifier key string); NoteVerificationFailed otherwise. Signatures of
    other keys are ignored, as the specification requires."""
    name, expected_id, public = parse_verifier_key(verifier)
    if "\n\n" not in note or not note.endswith("\n"):
        raise NoteVerificationFailed("not a signed note")
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    key = ed25519.Ed25519PublicKey.from_public_bytes(public)
    for line in signatures[:-1].split("\n"):
        if not line.startswith(NOTE_SIGNATURE_PREFIX):
            raise NoteVerificationFailed("malformed signature line")
        signer, _, encoded = line[len(NOTE_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteVerificationFailed("malformed signature line") from None
        if signer != name or raw[:4] != expected_id:
            continue
        try:
            key.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise NoteVerificationFailed(f"invalid signature for key {name}") from None
        return text
    raise NoteVerificationFailed(f"no signature of key {name}")
