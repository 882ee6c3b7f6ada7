"""Server-held secrets of the signatures app, all derived from SECRET_KEY.

- Issuer private keys are stored encrypted with AES-256-GCM under a key
  derived by HKDF-SHA256 from the server secret, so a copy of the database
  alone cannot issue tokens. The letter id and key id are authenticated as
  associated data: a ciphertext cannot be moved to another letter.
- Each letter's log key (Ed25519, signing its checkpoints) is stored the
  same way under its own derived key, bound to the letter and public key.
- Identity, email-code and invite-code HMAC keys, and the key that names the
  per-address email rate limit in the cache, are derived the same way, each
  with its own HKDF "info" label, so no two purposes share a key.

Parsed issuer keys (with their gmpy2 CRT values) are cached per process: the
issuance and redemption paths never parse a key per request.
"""

from __future__ import annotations

import secrets
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto import derived_key
from signatures import blindrsa

NONCE_LEN = 12


# --- issuer keys at rest ------------------------------------------------------


def _aad(letter_id: int, key_id: str) -> bytes:
    return f"issuer-key:{letter_id}:{key_id}".encode()


def encrypt_private_key(private_key: rsa.RSAPrivateKey, *, letter_id: int, key_id: str) -> bytes:
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    nonce = secrets.token_bytes(NONCE_LEN)
    aead = AESGCM(derived_key("issuer-key-encryption"))
    return nonce + aead.encrypt(nonce, der, _aad(letter_id, key_id))


def decrypt_private_key(blob: bytes, *, letter_id: int, key_id: str) -> blindrsa.IssuerKey:
    blob = bytes(blob)
    aead = AESGCM(derived_key("issuer-key-encryption"))
    der = aead.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], _aad(letter_id, key_id))
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - we only store RSA keys
        raise blindrsa.InvalidInput("stored issuer key is not an RSA key")
    parsed = blindrsa.IssuerKey.from_private_key(key)
    if parsed.key_id != key_id:
        raise blindrsa.InvalidInput("stored issuer key does not match its key id")
    return parsed


# key id -> IssuerKey. A key id is the SHA-256 of the public key, so an entry
# can never go stale (even when a test database reuses a letter id).
_loaded: dict[str, blindrsa.IssuerKey] = {}
_lock = threading.Lock()


def loaded_issuer_key(row) -> blindrsa.IssuerKey:
    """The parsed key of a signatures.models.IssuerKey row, cached per process.

    `row` may defer `private_key_encrypted`: it is only read on a cache miss.
    """
    key = _loaded.get(row.key_id)
    if key is not None:
        return key
    key = decrypt_private_key(row.private_key_encrypted, letter_id=row.letter_id, key_id=row.key_id)
    with _lock:
        return _loaded.setdefault(row.key_id, key)


# --- log keys at rest -----------------------------------------------------------------
#
# A letter's log signs its checkpoints with Ed25519; the private key is kept
# as the issuer key is, under its own derived key, bound to the letter and
# the public key.


def _log_aad(letter_id: int, public_key: bytes) -> bytes:
    return f"log-key:{letter_id}:{public_key.hex()}".encode()


def encrypt_log_key(private_key: ed25519.Ed25519PrivateKey, *, letter_id: int) -> bytes:
    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    nonce = secrets.token_bytes(NONCE_LEN)
    aead = AESGCM(derived_key("log-key-encryption"))
    return nonce + aead.encrypt(nonce, raw, _log_aad(letter_id, public))


def decrypt_log_key(blob: bytes, *, letter_id: int, public_key: bytes) -> ed25519.Ed25519PrivateKey:
    blob, public_key = bytes(blob), bytes(public_key)
    aead = AESGCM(derived_key("log-key-encryption"))
    raw = aead.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], _log_aad(letter_id, public_key))
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    derived_public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if derived_public != public_key:  # pragma: no cover - the AAD already binds it
        raise ValueError("stored log key does not match its public key")
    return key
