"""Real log entries for tests and bench/verify_log.py: tokens of a letter
signed with its issuer key (an RSA-PSS signature over a prepared token is
exactly what a signer holds after unblinding: RFC 9474 finalize returns a
standard RSASSA-PSS signature), and withdrawals of them."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from signatures import blindrsa, keys, tlog
from signatures.services.common import TOKEN_CONTEXT

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=blindrsa.SALT_LEN)


def signed_token(letter, *, text_sha256: str | None = None) -> tuple[bytes, bytes]:
    """(prepared token, signature) for `letter`, as a signer would hold them."""
    key = keys.loaded_issuer_key(letter.issuer_key)
    message = TOKEN_CONTEXT + bytes.fromhex(text_sha256 or letter.text_hash)
    prepared = blindrsa.prepare(message + secrets.token_bytes(32))
    return prepared, key.private_key.sign(prepared, PSS, hashes.SHA384())


def signature_entry(letter, *, text_sha256: str | None = None) -> bytes:
    prepared, signature = signed_token(letter, text_sha256=text_sha256)
    fields = tlog.fields_sha256(
        salt=tlog.new_salt(),
        pseudonym=f"Signer {secrets.token_hex(3)}",
        public_name="",
        reveal_at=None,
        department="",
        location="",
        comment="",
        attestations=[],
    )
    return tlog.signature_entry(token=prepared, signature=signature, fields_sha256=fields)


def token_sha256(entry: bytes) -> str:
    """The hex SHA-256 of the token a signature or withdrawal entry names
    (Signature.token_hash)."""
    parsed = json.loads(entry)
    if parsed["kind"] == "withdrawal":
        return parsed["token_sha256"]
    token = parsed["token"]
    return hashlib.sha256(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).hexdigest()


def batch(entries: list[bytes]) -> list[bytes]:
    """Entries in the order of a sealed batch: by their token hash."""
    return sorted(entries, key=token_sha256)


def signature_entries(letter, count: int) -> list[bytes]:
    return batch([signature_entry(letter) for _ in range(count)])


def withdrawal_of(entry: bytes) -> bytes:
    return tlog.withdrawal_entry(token_sha256=token_sha256(entry))
