#!/usr/bin/env python3
"""Sign an open letter without running the site's JavaScript.

    python3 clients/sign.py https://organizing.example stop-logging

This program does what the signing page does in a browser, in plain Python
that you can read before you run it. It needs Python 3.11 or later and the
`cryptography` package (`pip install cryptography`, or Debian's
`python3-cryptography`), and nothing else: it imports nothing from the site.
The protocol is described in docs/signing-protocol.md.

What happens, in order (each step is one function below):

1. Read the letter (its text hash, its issuer key, its statements).
2. Check that the issuer key you were given is the letter's key for
   everyone: the letter's transparency log starts with an entry that names
   the key, and that entry sits in a tree whose root the log has signed.
   A site that gave *you* a key of your own could recognise your signature
   later; this program then refuses to go on. (A site could also show you a
   whole log of your own: a log key or a checkpoint from someone you trust,
   --log-key and --checkpoint, catches that.)
3. Ask you to affirm the letter's statements and choose a pseudonym.
4. Make a random token and blind it (RFC 9474, RSABSSA-SHA384-PSS-Randomized):
   the server signs it without seeing it.
5. Prove that you may sign, with an invite code or a code sent to your work
   email. The server answers with the blind signature.
6. Unblind the signature and check it with the issuer key.
7. Optionally wait a random time (--delay), then send the token, its
   signature and your pseudonym, without any cookie or login.
8. Keep the receipt in a file that only you can read (mode 0600). Until
   the site accepts the signature, the file keeps the token (--resume).

Exit status: 0 signed; 1 the site refused or could not be reached; 2 wrong
command line; 3 the key check of step 2 failed (do not sign through this site).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

# The token format (docs/signing-protocol.md, "Token message").
TOKEN_CONTEXT = b"organizing-token-v1"
NONCE_LEN = 32
PREFIX_LEN = 32  # the random prefix of RFC 9474's "Randomized" variants
VARIANT = "RSABSSA-SHA384-PSS-Randomized"
SALT_LEN = 48  # the PSS salt of this variant, as long as a SHA-384 hash
HASH_LEN = 48

TILE_HEIGHT = 8  # C2SP tlog-tiles: each tile holds 2**8 = 256 hashes
TILE_WIDTH = 1 << TILE_HEIGHT

OPTIONAL_FIELDS = ("public_name", "reveal_at", "department", "location", "comment")

EXIT_REFUSED = 1
EXIT_KEY_CHECK = 3


class Refused(Exception):
    """The site said no, or could not be reached: exit status 1."""


class KeyCheckFailed(Exception):
    """The issuer key cannot be shown to be everyone's: exit status 3."""


# --- small helpers ------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding, as the site's API uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def say(message: str = "") -> None:
    """Everything the program tells you goes to standard error, so that
    standard output stays free (and standard input can carry the code)."""
    print(message, file=sys.stderr, flush=True)


def ask(question: str) -> str:
    """Ask a question on the terminal and read one line of answer. Tests and
    scripts can pipe the answers into standard input."""
    print(question, end=" ", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise Refused("No answer (standard input ended).")
    return line.strip()


# --- talking to the site --------------------------------------------------------------
#
# urllib keeps no cookies unless it is told to (nothing here does), so no
# request below carries a cookie, and each one opens a new connection.


def site_url(site: str, path: str, link_key: str | None) -> str:
    """The address of `path` on the site. An unlisted letter needs the secret
    of its link (`key`) on every address, the log's included."""
    return with_key(urllib.parse.urljoin(site.rstrip("/") + "/", path.lstrip("/")), link_key)


def with_key(url: str, link_key: str | None) -> str:
    if not link_key:
        return url
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"key": link_key})


def http(url: str, body: dict | None = None) -> tuple[int, bytes]:
    """GET `url`, or POST `body` as JSON; returns (status, response body)."""
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise Refused(f"Not an address on the web: {url}")
    data = None if body is None else json.dumps(body).encode("utf-8")
    # The site's own scheme was checked in main(): https, or http to this
    # computer or an onion service.
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")  # noqa: S310
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        raise Refused(f"Could not reach {url}: {error}") from None


def api(url: str, body: dict | None = None, *, expect: int = 200) -> dict:
    """Call the JSON API; a status other than `expect` raises Refused with the
    site's own message."""
    status, raw = http(url, body)
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {}
    if status != expect:
        message = answer.get("message") if isinstance(answer, dict) else None
        raise Refused(f"The site answered {status}: {message or raw[:200]!r}")
    return answer


# --- step 1: the letter -----------------------------------------------------------------


def read_letter(site: str, slug: str, link_key: str | None) -> dict:
    """The letter as the API describes it, with its issuer key loaded."""
    letter = api(site_url(site, f"/api/v1/letters/{slug}", link_key))
    if not letter.get("is_open") or not letter.get("issuer"):
        raise Refused(f"The letter “{letter.get('title', slug)}” is not open for signatures.")
    issuer = letter["issuer"]
    if issuer.get("variant") != VARIANT:
        raise Refused(f"The letter uses {issuer.get('variant')!r}, not {VARIANT}.")
    key = serialization.load_pem_public_key(issuer["public_key_pem"].encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise Refused("The issuer key is not an RSA key of at least 2048 bits.")
    # The key's DER form is what the log names, and its SHA-256 is the key id.
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if hashlib.sha256(spki).hexdigest() != issuer.get("key_id"):
        raise KeyCheckFailed("The issuer key does not match its own key id.")
    letter["public_key"], letter["spki_der"] = key, spki
    return letter


# --- step 2: the key is the one in the log's entry 0 -----------------------------------
#
# The log follows C2SP's tlog-checkpoint, signed-note and tlog-tiles
# specifications (the ones Go's checksum database uses). The checkpoint is a
# short text signed with the log's Ed25519 key:
#
#     <origin>\n<tree size>\n<base64 root hash>\n\n— <key name> <base64 signature>\n
#
# The tree is RFC 6962's Merkle tree: a leaf is SHA-256(0x00 || entry), a
# node SHA-256(0x01 || left || right). Its hashes are published in "tiles"
# of 256 hashes, and its entries in "entry bundles" of 256 entries.


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_note(note: str, verifier_key: str) -> str:
    """Check a signed note (C2SP signed-note) with a verifier key
    `<name>+<8 hex digits>+<base64 of 0x01 || Ed25519 public key>`, and
    return the signed text."""
    # The name and the hash hold no "+"; the base64 part may.
    name, key_hash, key_data = verifier_key.split("+", 2)
    key_bytes = base64.b64decode(key_data, validate=True)
    if key_bytes[:1] != b"\x01" or len(key_bytes) != 33:
        raise KeyCheckFailed("The log's verifier key is not an Ed25519 key.")
    # The key hash is the first 4 bytes of SHA-256(name || "\n" || 0x01 || key).
    expected_hash = hashlib.sha256(name.encode() + b"\n" + key_bytes).digest()[:4]
    if expected_hash.hex() != key_hash:
        raise KeyCheckFailed("The log's verifier key is malformed (its hash does not match).")
    public_key = ed25519.Ed25519PublicKey.from_public_bytes(key_bytes[1:])

    # The text ends at the first blank line; signature lines follow.
    text, separator, signatures = note.partition("\n\n")
    if not separator:
        raise KeyCheckFailed("The checkpoint is not a signed note.")
    text += "\n"
    for line in signatures.splitlines():
        prefix = f"\u2014 {name} "  # an em dash, the key name, a space
        if not line.startswith(prefix):
            continue
        signature = base64.b64decode(line[len(prefix) :], validate=True)
        if signature[:4] != expected_hash:
            continue
        try:
            public_key.verify(signature[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise KeyCheckFailed("The checkpoint's signature is not valid.") from None
        return text
    raise KeyCheckFailed(f"The checkpoint carries no signature by {name}.")


def parse_checkpoint(text: str, origin: str) -> tuple[int, bytes]:
    """(tree size, root hash) from a checkpoint's signed text."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != origin:
        raise KeyCheckFailed(f"The checkpoint is not for the log {origin!r}.")
    size, root = int(lines[1]), base64.b64decode(lines[2], validate=True)
    if size < 1 or len(root) != 32:
        raise KeyCheckFailed("The checkpoint is malformed.")
    return size, root


def tile_path(level: int | str, index: int, width: int) -> str:
    """C2SP tlog-tiles: `tile/<level>/<index>`, the index written in groups
    of three digits, all but the last prefixed with "x" (1234067 is
    x001/x234/067); a tile with fewer than 256 items ends in `.p/<width>`."""
    groups = f"{index:03d}"
    groups = "0" * (-len(groups) % 3) + groups
    parts = [groups[i : i + 3] for i in range(0, len(groups), 3)]
    path = "/".join(["x" + part for part in parts[:-1]] + [parts[-1]])
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{path}{suffix}"


class Tiles:
    """Reads the tree's hashes from the log's tiles, for a tree of `size`
    entries (the latest checkpoint's): a tile that is still partial is
    fetched at the width that size gives it."""

    def __init__(self, base: str, link_key: str | None, size: int):
        self.base, self.link_key, self.size = base, link_key, size
        self.fetched: dict[str, bytes] = {}

    def fetch(self, path: str) -> bytes:
        if path not in self.fetched:
            status, body = http(site_url(self.base, path, self.link_key))
            if status != 200:
                raise KeyCheckFailed(f"The log did not give {path} (status {status}).")
            self.fetched[path] = body
        return self.fetched[path]

    def first_entry(self) -> bytes:
        """Entry 0, from the first entry bundle: each entry there comes after
        its length, two bytes, big-endian."""
        bundle = self.fetch(tile_path("entries", 0, min(self.size, TILE_WIDTH)))
        length = int.from_bytes(bundle[:2], "big")
        if len(bundle) < 2 + length:
            raise KeyCheckFailed("The log's first entry bundle is cut short.")
        return bundle[2 : 2 + length]

    def subtree(self, height: int, index: int) -> bytes:
        """The hash of the complete subtree of 2**height leaves that starts at
        leaf index * 2**height. A tile of level L holds the hashes at height
        8 * L; the heights in between are computed from them."""
        level, rows = divmod(height, TILE_HEIGHT)
        first, count = index << rows, 1 << rows  # in the tile's bottom row
        tile_index = first // TILE_WIDTH
        available = (self.size >> (level * TILE_HEIGHT)) - tile_index * TILE_WIDTH
        width = min(TILE_WIDTH, available)
        if first % TILE_WIDTH + count > width:
            raise KeyCheckFailed("The log's tree is smaller than its checkpoint says.")
        tile = self.fetch(tile_path(level, tile_index, width))
        if len(tile) != 32 * width:
            raise KeyCheckFailed("A tile of the log has the wrong length.")
        start = first % TILE_WIDTH
        hashes = [tile[32 * i : 32 * i + 32] for i in range(start, start + count)]
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def range_hash(self, start: int, size: int) -> bytes:
        """The Merkle tree hash of leaves [start, start + size) (RFC 6962:
        split at the largest power of two below the size)."""
        if size & (size - 1) == 0:  # a power of two: one complete subtree
            height = size.bit_length() - 1
            return self.subtree(height, start >> height)
        split = 1 << ((size - 1).bit_length() - 1)
        return node_hash(
            self.range_hash(start, split), self.range_hash(start + split, size - split)
        )


def entry_0_proof(tiles: Tiles, size: int) -> list[bytes]:
    """The inclusion proof of leaf 0 in a tree of `size` leaves (RFC 9162,
    2.1.3): leaf 0 is always on the left, and each step up the tree adds the
    hash of what lies to its right."""
    if size == 1:
        return []
    split = 1 << ((size - 1).bit_length() - 1)  # the largest power of two below size
    return entry_0_proof(tiles, split) + [tiles.range_hash(split, size - split)]


def entry_0_included(tiles: Tiles, entry: bytes, size: int, root: bytes) -> bool:
    value = leaf_hash(entry)
    for sibling in entry_0_proof(tiles, size):
        value = node_hash(value, sibling)
    return value == root


def check_key_in_log(
    site: str, letter: dict, link_key: str | None, *, pinned_key: str | None, others: list[str]
) -> str:
    """Refuse (KeyCheckFailed) unless entry 0 of the letter's log, included
    in the tree of a checkpoint signed by the log's key, names the issuer key
    the letter API gave. Returns the checkpoint note seen, for the receipt."""
    log = letter.get("log")
    if not isinstance(log, dict) or not log.get("verifier_key"):
        raise KeyCheckFailed(
            "The site publishes no transparency log for this letter, so nothing shows that "
            "the issuer key it gave you is the one everyone gets."
        )
    verifier_key = log["verifier_key"]
    if pinned_key and pinned_key != verifier_key:
        raise KeyCheckFailed(
            "The site gave a log key that is not the one you pinned with --log-key:\n"
            f"  pinned:   {pinned_key}\n  the site: {verifier_key}"
        )
    origin = log["origin"]
    if verifier_key.split("+", 1)[0] != origin:
        raise KeyCheckFailed("The log's key is not named after the log's origin.")

    # The latest checkpoint, checked with the log's key.
    checkpoint_url = urllib.parse.urljoin(site.rstrip("/") + "/", log["checkpoint_url"])
    status, raw = http(with_key(checkpoint_url, link_key))
    if status != 200:
        raise KeyCheckFailed(f"The log's checkpoint could not be read (status {status}).")
    note = raw.decode("utf-8")
    size, root = parse_checkpoint(verify_note(note, verifier_key), origin)

    # Entry 0, and its proof of inclusion in that tree, built from the tiles
    # that sit beside the checkpoint.
    tiles = Tiles(urllib.parse.urljoin(checkpoint_url, "."), link_key, size)
    entry = tiles.first_entry()
    if not entry_0_included(tiles, entry, size, root):
        raise KeyCheckFailed("The log's entry 0 is not in the tree its checkpoint signs.")

    # Checkpoints that others saw (a colleague, a journalist): entry 0 must be
    # in their trees too, or the site is showing you a log of your own.
    for other in others:
        other_size, other_root = parse_checkpoint(verify_note(other, verifier_key), origin)
        if other_size > size:
            raise KeyCheckFailed(
                f"A checkpoint you gave has {other_size} entries, more than the "
                f"{size} the site shows you: the site may be showing you an old log of your own."
            )
        if not entry_0_included(tiles, entry, other_size, other_root):
            raise KeyCheckFailed(
                "The log the site shows you is not the one in the checkpoint you gave "
                "(entry 0 is not in its tree): the site may be showing you a log of your own."
            )

    # What entry 0 says (canonical JSON, docs/signing-protocol.md).
    try:
        first = json.loads(entry)
    except ValueError:
        raise KeyCheckFailed("The log's entry 0 is not JSON.") from None
    if not isinstance(first, dict) or first.get("kind") != "letter":
        raise KeyCheckFailed("The log's entry 0 is not the letter's entry.")
    for field, value in (("text_sha256", letter["text_sha256"]), ("variant", VARIANT)):
        if first.get(field) != value:
            raise KeyCheckFailed(
                f"The log's entry 0 gives another {field} than the letter you were shown:\n"
                f"  entry 0:    {first.get(field)}\n  the letter: {value}"
            )
    if first.get("issuer_key") != b64url(letter["spki_der"]):
        logged = hashlib.sha256(unb64url(str(first.get("issuer_key")))).hexdigest()
        raise KeyCheckFailed(
            "The log's entry 0 names another issuer key than the one you were given:\n"
            f"  entry 0 (everyone's): key id {logged}\n"
            f"  given to you:         key id {hashlib.sha256(letter['spki_der']).hexdigest()}\n"
            "The site may have given you a key of your own, which would let it "
            "recognise your signature. Do not sign through this site."
        )
    return note


# --- step 4 to 6: the blind token (RFC 9474) ---------------------------------------------
#
# RSABSSA-SHA384-PSS-Randomized: prepare() adds 32 random bytes before the
# message; blind() encodes it with RSA-PSS (SHA-384, a 48-byte salt) and
# multiplies it by r**e for a random r, so the server sees only a random
# number; finalize() divides the server's answer by r, which leaves an
# ordinary RSA-PSS signature of the prepared message.


def token_message(text_sha256: str) -> bytes:
    """The message: the context string, the letter's text hash (so the token
    is good for this text only) and 32 random bytes."""
    return TOKEN_CONTEXT + bytes.fromhex(text_sha256) + secrets.token_bytes(NONCE_LEN)


def prepare(message: bytes) -> bytes:
    """RFC 9474, 4.1 (randomized): 32 random bytes, then the message."""
    return secrets.token_bytes(PREFIX_LEN) + message


def mgf1_sha384(seed: bytes, length: int) -> bytes:
    """The MGF1 mask generation function with SHA-384 (RFC 8017, B.2.1)."""
    blocks = math.ceil(length / HASH_LEN)
    mask = b"".join(hashlib.sha384(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    return mask[:length]


def pss_encode(message: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 (RFC 8017, 9.1.1), for a modulus of
    em_bits + 1 bits."""
    em_len = math.ceil(em_bits / 8)
    m_hash = hashlib.sha384(message).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - HASH_LEN - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, mgf1_sha384(h, len(db)), strict=True))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)  # clear the bits above em_bits
    return bytes(masked) + h + b"\xbc"


def blind(
    public_key: rsa.RSAPublicKey,
    prepared: bytes,
    *,
    salt: bytes | None = None,
    r: int | None = None,
) -> tuple[bytes, int]:
    """RFC 9474, 4.2: returns (blinded message, inverse of r). Only the test
    of RFC 9474's published vectors passes `salt` and `r`."""
    n, e = public_key.public_numbers().n, public_key.public_numbers().e
    k = (n.bit_length() + 7) // 8
    salt = secrets.token_bytes(SALT_LEN) if salt is None else salt
    m = int.from_bytes(pss_encode(prepared, n.bit_length() - 1, salt), "big")
    if math.gcd(m, n) != 1:
        raise Refused("The encoded token is not invertible for this key.")
    r = secrets.randbelow(n - 1) + 1 if r is None else r  # uniform in [1, n)
    inverse = pow(r, -1, n)  # fails (ValueError) only if r shares a factor with n
    blinded = (m * pow(r, e, n)) % n
    return blinded.to_bytes(k, "big"), inverse


def finalize(
    public_key: rsa.RSAPublicKey, prepared: bytes, blind_signature: bytes, inverse: int
) -> bytes:
    """RFC 9474, 4.4: unblind, then verify the result as an RSA-PSS
    signature; a server that answered wrongly is caught here."""
    n = public_key.public_numbers().n
    k = (n.bit_length() + 7) // 8
    if len(blind_signature) != k:
        raise Refused("The blind signature has the wrong length.")
    signature = ((int.from_bytes(blind_signature, "big") * inverse) % n).to_bytes(k, "big")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_LEN)
    try:
        public_key.verify(signature, prepared, pss, hashes.SHA384())
    except InvalidSignature:
        raise Refused("The site's blind signature does not verify: not using it.") from None
    return signature


# --- step 3 and 5: what you are asked --------------------------------------------------


def affirm_statements(letter: dict, affirmed_all: bool) -> list[int]:
    """Every statement of the letter must be affirmed to sign."""
    ids = []
    for statement in letter.get("attestations", []):
        say(f"Statement: {statement['text']}")
        if not affirmed_all and ask("Do you affirm it? [y/N]").lower() not in ("y", "yes"):
            raise Refused("Every statement must be affirmed to sign; nothing was sent.")
        ids.append(statement["id"])
    return ids


def suggested_pseudonym() -> str:
    adjectives = ["Quiet", "Brave", "Steady", "Bright", "Patient", "Bold", "Kind", "Calm"]
    animals = ["Heron", "Otter", "Finch", "Badger", "Lynx", "Wren", "Fox", "Owl"]
    return f"{secrets.choice(adjectives)} {secrets.choice(animals)} {10 + secrets.randbelow(90)}"


def eligibility_proof(site: str, slug: str, link_key: str | None, args) -> dict:
    """An invite code, or a code sent to a work address of the campaign."""
    if args.invite:
        return {"type": "invite_code", "code": args.invite}
    email = args.email
    if not email:
        answer = ask("Type an invite code, or press Enter to use a work email code:")
        if answer:
            return {"type": "invite_code", "code": answer}
        email = ask("Your work email address:")
    api(
        site_url(site, f"/api/v1/letters/{slug}/email-codes", link_key),
        {"email": email},
        expect=202,
    )
    say(f"A code was sent to {email} (a work mailbox is visible to its employer).")
    return {"type": "email_code", "email": email, "code": ask("The code from the email:")}


# --- step 7 and 8: sending, and the receipt ------------------------------------------------


def open_receipt_file(path: str) -> int:
    """Create the receipt file now, readable by you only, so that a file in
    the way is found before anything is spent. Never overwrites a file."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Refused(
            f"{path} already exists: move it away, give another --receipt-file, "
            "or --resume to send the token it keeps."
        ) from None
    except OSError as error:
        raise Refused(f"Cannot create {path}: {error}") from None


def write_receipt(fd: int, record: dict) -> None:
    """Replace the file's content with `record` (JSON), on disk at once."""
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    os.fsync(fd)


def read_pending(path: str, letter: dict) -> tuple[int, dict]:
    """For --resume: the token kept by a run that was stopped before the
    site accepted it."""
    try:
        with open(path, encoding="utf-8") as file:
            record = json.load(file)
        fd = os.open(path, os.O_WRONLY)
    except (OSError, ValueError) as error:
        raise Refused(f"Cannot read {path}: {error}") from None
    if record.get("receipt"):
        os.close(fd)
        raise Refused(f"{path} already holds the receipt of a signature: nothing to resume.")
    if not record.get("token") or record.get("issuer_key_id") != letter["issuer"]["key_id"]:
        os.close(fd)
        raise Refused(f"{path} holds no token for this letter's key.")
    return fd, record


def choose_fields(args, letter: dict) -> dict:
    """What is sent with the token: the statements you affirm, your
    pseudonym and the optional fields."""
    fields = {"attestations": affirm_statements(letter, args.affirm)}
    fields["pseudonym"] = args.pseudonym
    if not fields["pseudonym"]:
        suggestion = suggested_pseudonym()
        fields["pseudonym"] = ask(f"Pseudonym shown publicly [{suggestion}]:") or suggestion
    for name in OPTIONAL_FIELDS:
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return fields


def get_token(args, letter: dict) -> tuple[bytes, bytes]:
    """Steps 4 to 6: (prepared token, its signature)."""
    public_key = letter["public_key"]
    prepared = prepare(token_message(letter["text_sha256"]))
    blinded, inverse = blind(public_key, prepared)
    proof = eligibility_proof(args.site, args.slug, args.key, args)
    answer = api(
        site_url(args.site, f"/api/v1/letters/{args.slug}/tokens", args.key),
        {"blinded_msg": b64url(blinded), "proof": proof},
    )
    signature = finalize(public_key, prepared, unb64url(answer["blind_sig"]), inverse)
    say("Token received and verified: the server cannot tell it is yours.")
    return prepared, signature


def send_signature(args, record: dict) -> dict:
    """Step 7: wait if asked, then send the token and the fields, without
    cookies. Returns the site's answer, which holds the receipt."""
    if args.delay > 0:
        wait = secrets.randbelow(int(args.delay * 1000) + 1) / 1000
        say(f"Waiting {wait:.0f} seconds before sending the signature…")
        time.sleep(wait)
    return api(
        site_url(args.site, f"/api/v1/letters/{args.slug}/signatures", args.key),
        {"token": record["token"], "signature": record["signature"], **record["fields"]},
        expect=201,
    )


def sign(args, other_checkpoints: list[str]) -> None:
    # 1. The letter.
    letter = read_letter(args.site, args.slug, args.key)
    say(f"Letter: {letter['title']}")
    say(f"Text hash: {letter['text_sha256']} (compare it with the letter's page)")

    # 2. The key is everyone's key.
    try:
        checkpoint = check_key_in_log(
            args.site, letter, args.key, pinned_key=args.log_key, others=other_checkpoints
        )
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise KeyCheckFailed(f"The log's data is malformed ({error!r}).") from None
    say(f"Issuer key {letter['issuer']['key_id'][:16]}… is entry 0 of the letter's log.")
    say(f"Log key: {letter['log']['verifier_key']}")

    # 3. Statements and pseudonym; the receipt file is made before anything
    # is spent. With --resume, all that comes from the file.
    path = args.receipt_file or f"receipt-{args.slug}.json"
    if args.resume:
        fd, record = read_pending(path, letter)
        for name in ("pseudonym", *OPTIONAL_FIELDS):
            if getattr(args, name) is not None:
                record["fields"][name] = getattr(args, name)
    else:
        fields = choose_fields(args, letter)
        fd = open_receipt_file(path)
        record = {
            "about": "Your signing receipt. Keep it private: with it anyone can "
            "check or withdraw your signature.",
            "site": args.site,
            "letter": args.slug,
            "title": letter["title"],
            "text_sha256": letter["text_sha256"],
            "issuer_key_id": letter["issuer"]["key_id"],
            "log_verifier_key": letter["log"]["verifier_key"],
            "receipt_page": site_url(args.site, "/receipts/", None),
            "fields": fields,
        }
    record["checkpoint"] = checkpoint
    try:
        if not args.resume:
            # 4 to 6. Until the site accepts the token, the file keeps it, so
            # that it is not lost if this program is stopped (--resume).
            try:
                prepared, signature = get_token(args, letter)
            except BaseException:
                os.unlink(path)  # nothing spent, nothing to keep
                raise
            record.update(token=b64url(prepared), signature=b64url(signature))
            write_receipt(fd, record)
        # 7. Send it.
        try:
            done = send_signature(args, record)
        except Refused as error:
            raise Refused(
                f"{error}\nYour token is kept in {path}: run this again with --resume "
                "(and the options to change) to send it."
            ) from None
        # 8. The receipt. The token and its signature stay in the file: they
        # will be public in the log, and let you find your entry there.
        record.update(receipt=done["receipt"], status=done["status"])
        write_receipt(fd, record)
    finally:
        os.close(fd)
    say(f"Signed as “{record['fields']['pseudonym']}”.")
    say(f"Your receipt is in {path} (readable by you only). Keep it private.")


def read_checkpoint_files(paths: list[str]) -> list[str]:
    notes = []
    for path in paths:
        with open(path, encoding="utf-8") as file:
            notes.append(file.read())
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", help="the site's address, e.g. https://organizing.example")
    parser.add_argument("slug", help="the letter's name in its address (/letters/<slug>/)")
    parser.add_argument("--key", help="the secret of an unlisted letter's link (?key=...)")
    parser.add_argument("--invite", metavar="CODE", help="sign with this invite code")
    parser.add_argument("--email", metavar="ADDR", help="sign with a code sent to this address")
    parser.add_argument("--pseudonym", help="the name shown with your signature")
    parser.add_argument("--public-name", help="your real name, shown (see --reveal-at)")
    parser.add_argument("--reveal-at", type=int, help="show --public-name from N signatures")
    parser.add_argument("--department", help="shown only in groups of at least k")
    parser.add_argument("--location", help="shown only in groups of at least k")
    parser.add_argument("--comment", help="a comment shown with your signature")
    parser.add_argument("--affirm", action="store_true", help="affirm every statement shown")
    parser.add_argument(
        "--delay",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait a random time up to SECONDS between the token and the signature",
    )
    parser.add_argument("--receipt-file", help="where to keep the receipt (receipt-<slug>.json)")
    parser.add_argument(
        "--resume", action="store_true", help="send the token kept in the receipt file"
    )
    parser.add_argument("--log-key", help="the log's verifier key, as published elsewhere")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="a checkpoint of the letter's log that someone else saw (repeatable)",
    )
    args = parser.parse_args(argv)

    address = urllib.parse.urlsplit(args.site)
    local = address.hostname in ("localhost", "127.0.0.1", "::1")
    onion = (address.hostname or "").endswith(".onion")
    if address.scheme != "https" and not (address.scheme == "http" and (local or onion)):
        parser.error("the site's address must start with https:// (http:// only for .onion)")
    if not args.slug or not all(c.isascii() and (c.isalnum() or c in "-_") for c in args.slug):
        parser.error("the letter's name has only letters, digits, - and _ (see its address)")
    try:
        others = read_checkpoint_files(args.checkpoint)
    except OSError as error:
        parser.error(str(error))
    try:
        sign(args, others)
    except KeyCheckFailed as error:
        say(f"REFUSING TO SIGN: {error}")
        return EXIT_KEY_CHECK
    except Refused as error:
        say(f"Not signed: {error}")
        return EXIT_REFUSED
    except (ValueError, KeyError, TypeError) as error:
        say(f"Not signed: the site's answer is malformed ({error!r}).")
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
