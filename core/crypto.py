"""Keys derived from SECRET_KEY, and keyed hashes: one place for all of them.

Each purpose has its own key (HKDF-SHA256 with its own "info" label), so no
two purposes share one. Their values are frozen (tests/contracts): changing
a label or the salt would silently break one-signature-per-person and every
stored invite code and key.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.encoding import force_bytes


@cache
def _derive(secret_key: str, label: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"organizing.signatures.v1",
        info=label.encode(),
    ).derive(secret_key.encode())


def derived_key(label: str) -> bytes:
    """A 32-byte key for one purpose, derived from settings.SECRET_KEY."""
    return _derive(settings.SECRET_KEY, label)


def keyed_hash(label: str, *parts: str | int) -> str:
    """HMAC-SHA256 (hex) with the purpose key `label` over the parts.

    Parts are length-prefixed so that ("1", "23") and ("12", "3") differ.
    """
    message = b"".join(
        len(p).to_bytes(4, "big") + p for p in (str(part).encode() for part in parts)
    )
    return hmac.new(derived_key(label), message, hashlib.sha256).hexdigest()


def client_key_for(address: str) -> str:
    """Keyed hash of an address: stable enough for rate limits, not reversible
    without the server secret (the IPv4 space is small, so an unkeyed hash
    would be)."""
    key = force_bytes(settings.SECRET_KEY + settings.CLIENT_KEY_SALT)
    return hmac.new(key, force_bytes(address), hashlib.sha256).hexdigest()[:32]
