#!/usr/bin/env python3
"""Audit an open letter's signatures from outside the server that collects them.

    python3 verify.py <site> <slug> [--key VERIFIER_KEY] [--pin-file FILE]
                      [--checkpoint FILE] [--receipt RECEIPT] [--link-key KEY]

For example: python3 verify.py https://organizing.example.org stop-keystroke-logging

Every letter has a public, append-only log of its signatures (a Merkle tree,
as in Certificate Transparency and Go's checksum database). The server signs
its current state, a "checkpoint", with the log's Ed25519 key. This program
downloads the whole log and checks, without trusting the server:

1. the checkpoint is signed by the log's key: the one given with --key, or
   the one this program pinned the first time it saw the letter (kept in
   ~/.config/organizing-verify/pins.json, or --pin-file);
2. every entry hashes into exactly the tree the checkpoint signs, and every
   tile of hashes the server publishes is right (other clients rely on them);
3. entry 0 names the letter's text (its SHA-256) and the issuer key; every
   signature entry holds a token made for that text and a valid RSA-PSS
   signature of the issuer key over it (RFC 9474, RSABSSA-SHA384-PSS-
   Randomized), no token appears twice, and every withdrawal names a
   signature before it, once;
4. every checkpoint the server lists as published is a prefix of this tree,
   and so is the older checkpoint saved in --checkpoint FILE (then replaced
   by the current one): history was not rewritten since;
5. with --receipt, the signature of that receipt is in the log, with the
   inclusion proof the server gives for it.

It prints the count (signatures minus withdrawals) and exits 0, or prints
the reason and exits 1 when a check fails (2 when the log could not be
fetched, 3 when the receipt's signature is not in the log yet).

It needs Python 3.10+ and the `cryptography` package, and imports nothing
from the server's code: read it, or write your own from
docs/signing-protocol.md ("The log").
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

TILE_WIDTH = 256  # hashes (or entries) in a full tile: C2SP tlog-tiles, height 8
HASH_SIZE = 32
TOKEN_CONTEXT = b"organizing-token-v1"
TOKEN_LENGTH = 32 + len(TOKEN_CONTEXT) + 32 + 32  # prefix, context, text hash, nonce
VARIANT = "RSABSSA-SHA384-PSS-Randomized"
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
DEFAULT_PIN_FILE = Path.home() / ".config" / "organizing-verify" / "pins.json"
FETCH_THREADS = 4


class AuditFailed(Exception):
    """A check failed: the log is not what it claims to be."""


class FetchFailed(Exception):
    """The server did not answer as it should."""


class Pending(Exception):
    """The receipt's signature waits for its batch: not in the log yet."""


# --- talking to the server -------------------------------------------------------


def fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - http(s), main()
            return response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise FetchFailed(f"GET {url}: {exc}") from None


def fetch_json(url: str):
    try:
        return json.loads(fetch(url))
    except ValueError:
        raise FetchFailed(f"GET {url}: the answer is not JSON") from None


def address(url: str, **query) -> str:
    """The URL with its query (an unlisted letter's link key, a page)."""
    return f"{url}?{urllib.parse.urlencode(query)}" if query else url


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - http(s), checked in main()
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except ValueError:
            message = ""
        raise FetchFailed(f"POST {url}: {exc.code} {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchFailed(f"POST {url}: {exc}") from None


# --- RFC 6962 hashing ----------------------------------------------------------------
# A leaf is SHA-256(0x00 || entry), an inner node SHA-256(0x01 || left || right);
# a tree of n leaves splits at the largest power of two below n.


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """The root of a (sub)tree whose leaf hashes are given: see prefix_roots."""
    return prefix_roots(leaves, {len(leaves)})[len(leaves)]


def prefix_roots(leaves: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    """{n: root of the tree of the first n leaves} for each n in `sizes`.

    Walks the leaves once, keeping a stack of the complete subtrees seen so
    far (sizes strictly decreasing, like the binary digits of the count);
    the root of a prefix folds that stack from the right.
    """
    roots = {}
    if 0 in sizes:
        roots[0] = hashlib.sha256(b"").digest()
    stack: list[tuple[int, bytes]] = []  # (height, hash)
    for count, value in enumerate(leaves, start=1):
        height = 0
        while stack and stack[-1][0] == height:
            value = node_hash(stack.pop()[1], value)
            height += 1
        stack.append((height, value))
        if count in sizes:
            root = stack[-1][1]
            for _height, left in reversed(stack[:-1]):
                root = node_hash(left, root)
            roots[count] = root
    return roots


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162, section 2.1.3.2)."""
    if not 0 <= index < size:
        raise AuditFailed(f"the receipt's index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise AuditFailed("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise AuditFailed("the inclusion proof is too short")
    return r


# --- signed notes (C2SP signed-note) and checkpoints (C2SP tlog-checkpoint) ----------


def parse_verifier_key(text: str) -> tuple[str, bytes, ed25519.Ed25519PublicKey]:
    """`<name>+<key id, 8 hex>+<base64 of 0x01 || 32-byte Ed25519 key>`."""
    name, _, rest = text.partition("+")
    key_id_hex, _, encoded = rest.partition("+")
    try:
        raw = base64.b64decode(encoded, validate=True)
        key_id = bytes.fromhex(key_id_hex)
    except (binascii.Error, ValueError):
        raise AuditFailed(f"not a verifier key: {text!r}") from None
    if not name or len(key_id) != 4 or len(raw) != 33 or raw[0] != 1:
        raise AuditFailed(f"not an Ed25519 verifier key: {text!r}")
    # The key id is the start of SHA-256(name || "\n" || 0x01 || public key).
    if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != key_id:
        raise AuditFailed("the verifier key's id does not match its key")
    return name, key_id, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


def open_note(note: str, verifier_key: str) -> str:
    """The text of a signed note, if a signature line of this key verifies.

    A note is its text (ending in a newline), a blank line, then lines
    "— <key name> <base64 of 4-byte key id || signature>".
    """
    name, key_id, public_key = parse_verifier_key(verifier_key)
    text, separator, signatures = note.rpartition("\n\n")
    if not separator or not note.endswith("\n"):
        raise AuditFailed("the checkpoint is not a signed note")
    text += "\n"
    for line in signatures[:-1].split("\n"):
        signer, _, encoded = line.removeprefix("\u2014 ").partition(" ")
        try:
            if not line.startswith("\u2014 "):
                raise binascii.Error
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise AuditFailed("a signature line of the checkpoint is malformed") from None
        if signer == name and signature[:4] == key_id:
            try:
                public_key.verify(signature[4:], text.encode())
            except InvalidSignature:
                raise AuditFailed("the checkpoint's signature is not valid") from None
            return text
    raise AuditFailed(f"the checkpoint carries no signature of the key {verifier_key}")


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """(origin, tree size, root hash) of a checkpoint's text."""
    lines = text.split("\n")
    try:
        origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError, binascii.Error):
        raise AuditFailed("the checkpoint is malformed") from None
    if size < 1 or str(size) != lines[1] or len(root) != HASH_SIZE:
        raise AuditFailed("the checkpoint is malformed")
    return origin, size, root


# --- tiles (C2SP tlog-tiles) ---------------------------------------------------------


def tile_path(level, index: int, width: int) -> str:
    """tile/<level>/<N>[.p/<width>], N in 3-digit groups, all but the last
    prefixed with x: 1234067 is x001/x234/067."""
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    encoded = "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])
    return f"tile/{level}/{encoded}" + ("" if width == TILE_WIDTH else f".p/{width}")


def tiles_of(count: int) -> list[tuple[int, int]]:
    """(index, width) of the tiles holding `count` hashes of one level."""
    tiles = [(i, TILE_WIDTH) for i in range(count // TILE_WIDTH)]
    if count % TILE_WIDTH:
        tiles.append((count // TILE_WIDTH, count % TILE_WIDTH))
    return tiles


def parse_bundle(data: bytes, width: int) -> list[bytes]:
    """An entry bundle: each entry preceded by its length (2 bytes, big-endian)."""
    entries, position = [], 0
    while position < len(data):
        length = int.from_bytes(data[position : position + 2], "big")
        entry = data[position + 2 : position + 2 + length]
        if position + 2 > len(data) or len(entry) != length:
            raise AuditFailed("an entry bundle is truncated")
        entries.append(entry)
        position += 2 + length
    if len(entries) != width:
        raise AuditFailed(f"an entry bundle has {len(entries)} entries instead of {width}")
    return entries


def download_log(log_url: str, size: int, query: dict) -> tuple[list[bytes], dict[str, bytes]]:
    """(every entry, {tile path: tile}) of the tree of `size`."""
    paths = [tile_path("entries", i, w) for i, w in tiles_of(size)]
    level, count = 0, size
    while count:
        paths += [tile_path(level, i, w) for i, w in tiles_of(count)]
        level, count = level + 1, count // TILE_WIDTH
    with ThreadPoolExecutor(FETCH_THREADS) as pool:
        bodies = pool.map(lambda path: fetch(address(f"{log_url}/{path}", **query)), paths)
        bodies = dict(zip(paths, bodies, strict=True))
    entries = []
    for index, width in tiles_of(size):
        entries += parse_bundle(bodies.pop(tile_path("entries", index, width)), width)
    return entries, bodies


def check_tiles(leaves: list[bytes], tiles: dict[str, bytes]) -> None:
    """Recompute every tile from the leaves and compare with the served ones.
    A level-0 tile is 256 leaf hashes; a hash of a level-L tile is the root of
    a full tile of level L-1."""
    level, hashes = 0, leaves
    while hashes:
        for index, width in tiles_of(len(hashes)):
            expected = b"".join(hashes[index * TILE_WIDTH : index * TILE_WIDTH + width])
            if tiles[tile_path(level, index, width)] != expected:
                raise AuditFailed(
                    f"{tile_path(level, index, width)} is not the tile of the entries"
                )
        full = len(hashes) // TILE_WIDTH
        hashes = [merkle_root(hashes[i * TILE_WIDTH : (i + 1) * TILE_WIDTH]) for i in range(full)]
        level += 1


# --- the entries ------------------------------------------------------------------------


def b64url_decode(text) -> bytes:
    if not isinstance(text, str) or "=" in text or "+" in text or "/" in text:
        raise AuditFailed("a field is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AuditFailed("a field is not base64url") from None


ENTRY_KEYS = {
    "letter": {"kind", "text_sha256", "issuer_key", "variant"},
    "signature": {"kind", "token", "signature", "fields_sha256"},
    "withdrawal": {"kind", "token_sha256"},
}


def parse_entry(index: int, entry: bytes) -> dict:
    """An entry as JSON, written the one canonical way (sorted keys, no
    spaces), with exactly the keys of its kind."""
    try:
        parsed = json.loads(entry)
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        raise AuditFailed(f"entry {index} is not JSON") from None
    if canonical.encode() != entry or not isinstance(parsed, dict):
        raise AuditFailed(f"entry {index} is not canonical JSON")
    if set(parsed) != ENTRY_KEYS.get(parsed.get("kind"), ()):
        raise AuditFailed(f"entry {index} is not a letter, signature or withdrawal entry")
    return parsed


def check_letter_entry(entry: dict) -> tuple[str, rsa.RSAPublicKey]:
    """Entry 0: (the letter's text hash, the issuer key of every token)."""
    if entry["kind"] != "letter" or entry["variant"] != VARIANT:
        raise AuditFailed(f"entry 0 is not a {VARIANT} letter entry")
    text_sha256 = entry["text_sha256"]
    try:
        if not isinstance(text_sha256, str) or len(bytes.fromhex(text_sha256)) != 32:
            raise ValueError
        issuer_key = serialization.load_der_public_key(b64url_decode(entry["issuer_key"]))
    except ValueError:
        raise AuditFailed("entry 0 does not hold a text hash and an issuer key") from None
    if not isinstance(issuer_key, rsa.RSAPublicKey) or issuer_key.key_size < 2048:
        raise AuditFailed("entry 0's issuer key is not an RSA key of 2048 bits or more")
    return text_sha256, issuer_key


def check_entries(entries: list[bytes]) -> tuple[str, dict[str, int], set[str]]:
    """(the letter's text hash, {token SHA-256: index of its signature entry},
    {token SHA-256 of each withdrawn signature})."""
    text_sha256, issuer_key = check_letter_entry(parse_entry(0, entries[0]))
    expected = TOKEN_CONTEXT + bytes.fromhex(text_sha256)
    signed: dict[str, int] = {}
    withdrawn: set[str] = set()
    for index in range(1, len(entries)):
        entry = parse_entry(index, entries[index])
        if entry["kind"] == "withdrawal":
            token_sha256 = entry["token_sha256"]
            if token_sha256 not in signed:
                raise AuditFailed(f"entry {index} withdraws a signature the log does not have")
            if token_sha256 in withdrawn:
                raise AuditFailed(f"entry {index} withdraws a signature a second time")
            withdrawn.add(token_sha256)
            continue
        if entry["kind"] != "signature":
            raise AuditFailed(f"entry {index} is a second letter entry")
        token = b64url_decode(entry["token"])
        # The token: a 32-byte random prefix (RFC 9474 prepare), the context,
        # the letter's text hash, a 32-byte nonce.
        if len(token) != TOKEN_LENGTH or token[32 : 32 + len(expected)] != expected:
            raise AuditFailed(f"entry {index} holds a token that was not made for this letter")
        try:
            issuer_key.verify(b64url_decode(entry["signature"]), token, PSS, hashes.SHA384())
        except InvalidSignature:
            raise AuditFailed(f"entry {index}'s signature is not the issuer key's") from None
        token_sha256 = hashlib.sha256(token).hexdigest()
        if token_sha256 in signed:
            raise AuditFailed(f"entry {index} spends the token of entry {signed[token_sha256]}")
        signed[token_sha256] = index
    return text_sha256, signed, withdrawn


# --- pinned keys and saved checkpoints ---------------------------------------------------


def choose_key(args, announced: str | None) -> tuple[str, str]:
    """(verifier key, how it was chosen). The first run pins the key the site
    announces; later runs refuse another."""
    if args.key:
        return args.key, "given with --key"
    pin_file = Path(args.pin_file)
    try:
        pins = json.loads(pin_file.read_text()) if pin_file.exists() else {}
    except ValueError:
        raise AuditFailed(f"{pin_file} is not a pin file (JSON); move it away") from None
    letter = f"{args.site}/letters/{args.slug}"
    if letter in pins:
        if announced is not None and announced != pins[letter]:
            raise AuditFailed(
                f"the site now announces the log key {announced}, not {pins[letter]}, "
                f"the one pinned in {pin_file}"
            )
        return pins[letter], f"pinned in {pin_file}"
    if announced is None:
        raise AuditFailed("the site announces no log for this letter")
    pins[letter] = announced
    pin_file.parent.mkdir(parents=True, exist_ok=True)
    pin_file.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
    return announced, (
        f"seen for the first time and pinned in {pin_file}: compare it with the key "
        "the organizers publish elsewhere (a poster, a printed letter, another site)"
    )


def check_receipt(args, leaves: list[bytes], signed: dict, withdrawn: set) -> str:
    """Where the receipt's signature is, checked with the server's proof."""
    status = post_json(f"{args.site}/api/v1/receipts/status", {"receipt": args.receipt})
    where = status.get("log")
    if not where:
        raise Pending(
            f"the receipt's signature is {status.get('status', 'unknown')} and not in the log "
            "yet: it is written with the next batch"
        )
    try:
        index, size = int(where["index"]), int(where["tree_size"])
        proof = [base64.b64decode(p, validate=True) for p in where["proof"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise AuditFailed("the server's answer about the receipt is malformed") from None
    if not 0 <= index < size <= len(leaves):
        raise AuditFailed(f"the receipt points at entry {index} of a tree of size {size}")
    root = prefix_roots(leaves, {size})[size]
    if root_from_inclusion_proof(index, size, leaves[index], proof) != root:
        raise AuditFailed(f"the receipt's inclusion proof does not lead to the root of size {size}")
    token_sha256 = next((t for t, i in signed.items() if i == index), None)
    if token_sha256 is None:
        raise AuditFailed(f"the receipt points at entry {index}, which is not a signature")
    state = "withdrawn since" if token_sha256 in withdrawn else "counted"
    return f"entry {index}, included in the log at size {size} ({state})"


def published_checkpoints(log_url: str, query: dict) -> list[str]:
    """The notes of every checkpoint the log lists, page by page."""
    notes, after = [], 0
    while True:
        page = fetch_json(address(f"{log_url}/checkpoints", **query, after=after))
        if not page:
            return notes
        try:
            notes += [row["note"] for row in page]
            after = max(row["size"] for row in page)
        except (KeyError, TypeError, ValueError):
            raise AuditFailed("the list of published checkpoints is malformed") from None


# --- the audit -----------------------------------------------------------------------------


def audit(args) -> list[str]:
    """Run every check; the lines to print. Raises on the first failure."""
    query = {"key": args.link_key} if args.link_key else {}
    log_url = f"{args.site}/log/{args.slug}"
    letter = fetch_json(address(f"{args.site}/api/v1/letters/{args.slug}", **query))
    announced = (letter.get("log") or {}).get("verifier_key")
    verifier_key, how = choose_key(args, announced)
    note = fetch(address(f"{log_url}/checkpoint", **query)).decode()
    origin, size, root = parse_checkpoint(open_note(note, verifier_key))
    if origin != verifier_key.partition("+")[0] or not origin.endswith(f"/letters/{args.slug}"):
        raise AuditFailed(f"the checkpoint is of the log {origin}, not of this letter")

    # The whole log: every entry must hash into the signed root, and every
    # tile the server serves must be the one of these entries.
    entries, tiles = download_log(log_url, size, query)
    leaves = [leaf_hash(entry) for entry in entries]
    if merkle_root(leaves) != root:
        raise AuditFailed("the entries do not hash to the checkpoint's root")
    check_tiles(leaves, tiles)
    text_sha256, signed, withdrawn = check_entries(entries)
    if letter.get("text_sha256") != text_sha256:
        raise AuditFailed("the site shows another text hash than the log's entry 0")

    # Every checkpoint published so far, and the one saved by an earlier run,
    # must be the tree of a prefix of these entries: nothing was rewritten.
    saved = Path(args.checkpoint) if args.checkpoint else None
    older = [saved.read_text()] if saved is not None and saved.exists() else []
    listed = published_checkpoints(log_url, query)
    trees = [parse_checkpoint(open_note(n, verifier_key)) for n in listed + older]
    if older and trees[-1][1] > size:
        raise AuditFailed(f"the log has {size} entries, fewer than the {trees[-1][1]} saved")
    # (A listed checkpoint larger than the one fetched is a batch sealed since.)
    roots = prefix_roots(leaves, {tree_size for _o, tree_size, _r in trees})
    for old_origin, old_size, old_root in trees:
        if old_size <= size and (old_origin != origin or roots[old_size] != old_root):
            raise AuditFailed(
                f"the checkpoint of size {old_size} is not a prefix of this log: "
                "its history was rewritten"
            )

    lines = [
        f"log {origin}, key {verifier_key} ({how})",
        f"checkpoint: {size} entries, root {base64.b64encode(root).decode()}",
        f"checked: {size} entries, {len(tiles)} tiles, {len(listed)} published checkpoints",
        f"signatures: {len(signed)}, withdrawals: {len(withdrawn)}",
    ]
    if saved is not None:
        if older:
            lines.append(f"consistent with the checkpoint of size {trees[-1][1]} in {saved}")
        saved.write_text(note)
        lines.append(f"saved this checkpoint in {saved} for the next run")
    if args.receipt:
        lines.append("receipt: " + check_receipt(args, leaves, signed, withdrawn))
    lines.append(f"count: {len(signed) - len(withdrawn)}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", help="the site's address, e.g. https://organizing.example.org")
    parser.add_argument("slug", help="the letter's short name, as in /letters/<slug>/")
    parser.add_argument("--key", help="the log's verifier key (else the pinned one)")
    parser.add_argument("--pin-file", default=str(DEFAULT_PIN_FILE), help="where keys are pinned")
    parser.add_argument("--checkpoint", help="a checkpoint file from an earlier run (updated)")
    parser.add_argument("--receipt", help="a signing receipt to find in the log")
    parser.add_argument("--link-key", help="the `key` of an unlisted letter's link")
    args = parser.parse_args(argv)
    args.site = args.site.rstrip("/")
    if urllib.parse.urlsplit(args.site).scheme not in ("http", "https"):
        parser.error("the site's address starts with https:// (or http://)")
    try:
        lines = audit(args)
    except AuditFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except FetchFailed as exc:
        print(f"could not fetch the log: {exc}", file=sys.stderr)
        return 2
    except Pending as exc:
        print(f"pending: {exc}", file=sys.stderr)
        return 3
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    os.umask(0o077)  # the pin file and saved checkpoints are the user's own
    sys.exit(main())
