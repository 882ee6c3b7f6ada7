"""RSA blind signatures (RFC 9474), variant RSABSSA-SHA384-PSS-Randomized.

Protocol overview (RFC 9474, Section 4)::

    client                                   server (issuer)
    ------                                   ---------------
    msg' = prepare(msg)                       (Section 4.1)
    blinded, inv = blind(pk, msg')            (Section 4.2)
                      ---- blinded ---->
                                             blind_sig = blind_sign(key, blinded)
                                                                     (Section 4.3)
                      <--- blind_sig ---
    sig = finalize(pk, msg', blind_sig, inv)  (Section 4.4)

Anyone holding the public key can later ``verify(pk, msg', sig)`` (Section 4.5); the
server cannot link ``sig`` to the ``blinded`` message it signed.

The four variants of Section 5 are supported through two knobs: ``prepare(msg,
randomized=...)`` (Randomized vs Deterministic) and ``salt_len`` on ``blind``/``finalize``/
``verify`` (PSS with a 48-byte salt vs PSSZERO with an empty salt). The defaults give
RSABSSA-SHA384-PSS-Randomized, the variant RFC 9474 recommends.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from functools import cache, cached_property

import gmpy2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HASH_LEN = 48  # SHA-384 output size, in bytes
SALT_LEN = 48  # RSABSSA-SHA384-PSS-*; use 0 for the PSSZERO variants (Section 5)
PREFIX_LEN = 32  # random message prefix for the *-Randomized variants (Section 4.1)


class BlindRSAError(Exception):
    """Base class for every error raised by this module."""


class InvalidInput(BlindRSAError, ValueError):
    """An input is malformed: wrong type or length, or out of range for the modulus."""


class VerificationFailed(BlindRSAError):
    """A signature does not verify for the given public key and message."""


class SigningFailure(BlindRSAError):
    """The freshly computed signature failed the s^e == m self-check (Section 4.3 step 4).

    This indicates a hardware or software fault; the result must not be released, since a
    faulty CRT signature can leak a factor of the modulus (the "Bellcore attack").
    """


# --------------------------------------------------------------------------- issuer keys


@dataclass(frozen=True)
class IssuerKey:
    """An issuer's RSA private key with its gmpy2 CRT parameters precomputed.

    Converting the key to ``mpz`` values once makes :func:`blind_sign` cheap. Secret
    fields are excluded from ``repr`` so the key is not leaked into logs by accident.
    """

    private_key: rsa.RSAPrivateKey = field(repr=False)
    n: gmpy2.mpz = field(repr=False)
    e: gmpy2.mpz = field(repr=False)
    p: gmpy2.mpz = field(repr=False)
    q: gmpy2.mpz = field(repr=False)
    dp: gmpy2.mpz = field(repr=False)  # d mod (p - 1)
    dq: gmpy2.mpz = field(repr=False)  # d mod (q - 1)
    qinv: gmpy2.mpz = field(repr=False)  # q^-1 mod p
    modulus_len: int  # k in RFC 9474: length of n in bytes
    key_id: str  # hex SHA-256 of the SubjectPublicKeyInfo DER encoding

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> IssuerKey:
        """Wrap a ``cryptography`` RSA private key, precomputing the CRT values."""
        priv = private_key.private_numbers()
        pub = priv.public_numbers
        spki = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(
            private_key=private_key,
            n=gmpy2.mpz(pub.n),
            e=gmpy2.mpz(pub.e),
            p=gmpy2.mpz(priv.p),
            q=gmpy2.mpz(priv.q),
            dp=gmpy2.mpz(priv.dmp1),
            dq=gmpy2.mpz(priv.dmq1),
            qinv=gmpy2.mpz(priv.iqmp),
            modulus_len=_modulus_len(pub.n),
            key_id=hashlib.sha256(spki).hexdigest(),
        )

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | None = None) -> IssuerKey:
        """Load a PEM-encoded RSA private key (PKCS#1 or PKCS#8)."""
        data = pem.encode() if isinstance(pem, str) else pem
        key = serialization.load_pem_private_key(data, password=password)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise InvalidInput("PEM does not contain an RSA private key")
        return cls.from_private_key(key)

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        # Kept: OpenSSL caches per key object what every verification needs
        # (the modulus' Montgomery form), so a new object per call costs more.
        return self.private_key.public_key()

    def public_key_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM, for publishing to clients."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


def generate_issuer_key(bits: int = 2048) -> IssuerKey:
    """Generate a fresh issuer key (e = 65537). RFC 9474 requires at least 2048 bits."""
    if bits < 2048:
        raise InvalidInput(f"RSA modulus must be at least 2048 bits, got {bits}")
    return IssuerKey.from_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=bits)
    )


# --------------------------------------------------------------------------- helpers


def _modulus_len(n: int) -> int:
    return (n.bit_length() + 7) // 8


def _i2osp(x: int, length: int) -> bytes:
    """Integer-to-Octet-String primitive (RFC 8017, Section 4.1), big-endian."""
    return int(x).to_bytes(length, "big")


def _os2ip(data: bytes) -> int:
    """Octet-String-to-Integer primitive (RFC 8017, Section 4.2)."""
    return int.from_bytes(data, "big")


def _require_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    """MGF1 mask generation function with SHA-384 (RFC 8017, Appendix B.2.1)."""
    out = b"".join(
        hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        for counter in range(-(-length // HASH_LEN))
    )
    return out[:length]


def _emsa_pss_encode(msg: bytes, em_bits: int, salt: bytes) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 and MGF1-SHA-384 (RFC 8017, Section 9.1.1).

    RFC 9474 Section 4.2 step 1 calls this with ``bit_len(n)``, but the encoding must
    match RSASSA-PSS-SIGN/VERIFY (RFC 8017, Section 8.1), which use ``modBits - 1``;
    the callers below pass ``n.bit_length() - 1`` (the published test vectors agree).
    """
    em_len = (em_bits + 7) // 8
    if em_len < HASH_LEN + len(salt) + 2:
        raise InvalidInput("modulus too small for SHA-384 PSS encoding with this salt")
    m_hash = hashlib.sha384(msg).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - HASH_LEN - 2) + b"\x01" + salt
    masked_db = bytearray(a ^ b for a, b in zip(db, _mgf1_sha384(h, len(db)), strict=True))
    masked_db[0] &= 0xFF >> (8 * em_len - em_bits)  # clear the leftmost unused bits
    return bytes(masked_db) + h + b"\xbc"


# --------------------------------------------------------------------------- client side


def prepare(msg: bytes, randomized: bool = True) -> bytes:
    """Prepare a message for signing (RFC 9474, Section 4.1).

    Randomized variants prepend 32 fresh random bytes so that the signed message is
    unpredictable to the server; the *prepared* message is what must later be verified.
    """
    msg = _require_bytes("msg", msg)
    return secrets.token_bytes(PREFIX_LEN) + msg if randomized else msg


def blind(
    public_key: rsa.RSAPublicKey,
    prepared_msg: bytes,
    *,
    salt_len: int = SALT_LEN,
    salt: bytes | None = None,
    r: int | None = None,
) -> tuple[bytes, bytes]:
    """Blind a prepared message (RFC 9474, Section 4.2). Returns ``(blinded_msg, inv)``.

    ``salt`` and the blinding factor ``r`` are random by default; they can be injected
    only to reproduce test vectors. Keep ``inv`` secret: it unlinks the signature.
    """
    prepared_msg = _require_bytes("prepared_msg", prepared_msg)
    numbers = public_key.public_numbers()
    n, e = gmpy2.mpz(numbers.n), gmpy2.mpz(numbers.e)
    k = _modulus_len(numbers.n)
    if salt is None:
        salt = secrets.token_bytes(salt_len)
    elif len(salt) != salt_len:
        raise InvalidInput(f"salt must be {salt_len} bytes, got {len(salt)}")

    # Steps 1-3: encode and check that m is a unit mod n (otherwise it would reveal
    # a factor of n; this never happens for honestly generated keys).
    m = gmpy2.mpz(_os2ip(_emsa_pss_encode(prepared_msg, numbers.n.bit_length() - 1, salt)))
    if gmpy2.gcd(m, n) != 1:
        raise InvalidInput("encoded message is not invertible modulo n")

    # Steps 4-5: pick a uniformly random r in [1, n) and compute inv = r^-1 mod n.
    if r is None:
        r = secrets.randbelow(numbers.n - 1) + 1
    if not 0 < r < n or gmpy2.gcd(r, n) != 1:
        raise InvalidInput("blinding factor r must be invertible modulo n")
    inv = gmpy2.invert(r, n)

    # Steps 6-8: blinded_msg = m * r^e mod n (r^e is RSAVP1(pk, r)).
    z = (m * gmpy2.powmod(r, e, n)) % n
    return _i2osp(z, k), _i2osp(inv, k)


def finalize(
    public_key: rsa.RSAPublicKey,
    prepared_msg: bytes,
    blind_sig: bytes,
    inv: bytes,
    *,
    salt_len: int = SALT_LEN,
) -> bytes:
    """Unblind the server's response and verify it (RFC 9474, Section 4.4).

    Raises :class:`VerificationFailed` if the result is not a valid signature, so a
    misbehaving server can never hand the client an unusable token.
    """
    blind_sig = _require_bytes("blind_sig", blind_sig)
    inv = _require_bytes("inv", inv)
    n = public_key.public_numbers().n
    k = _modulus_len(n)
    if len(blind_sig) != k or len(inv) != k:
        raise InvalidInput(f"blind_sig and inv must be {k} bytes each")
    s = (gmpy2.mpz(_os2ip(blind_sig)) * _os2ip(inv)) % n
    sig = _i2osp(s, k)
    verify(public_key, prepared_msg, sig, salt_len=salt_len)
    return sig


# --------------------------------------------------------------------------- server side


def _rsasp1_crt(key: IssuerKey, c: gmpy2.mpz) -> gmpy2.mpz:
    """RSASP1 via the CRT (RFC 8017, Section 5.2.1, case 2.b) with constant-time powmod."""
    s1 = gmpy2.powmod_sec(c % key.p, key.dp, key.p)
    s2 = gmpy2.powmod_sec(c % key.q, key.dq, key.q)
    h = (key.qinv * (s1 - s2)) % key.p
    return s2 + key.q * h


def blind_sign(private_key: IssuerKey | rsa.RSAPrivateKey, blinded_msg: bytes) -> bytes:
    """Sign a blinded message (RFC 9474, Section 4.3). Runs on the issuer.

    Besides the RFC steps, the exponentiation input is re-randomised ("base blinding":
    m * r^e, later multiplied by r^-1) so its timing is independent of the client's
    chosen value. RSA signatures are unique, so the output is still deterministic.
    Pass an :class:`IssuerKey` for speed; a raw RSA key is converted on every call.
    """
    key = (
        private_key
        if isinstance(private_key, IssuerKey)
        else IssuerKey.from_private_key(private_key)
    )
    blinded_msg = _require_bytes("blinded_msg", blinded_msg)
    if len(blinded_msg) != key.modulus_len:
        raise InvalidInput(
            f"blinded message must be {key.modulus_len} bytes, got {len(blinded_msg)}"
        )
    m = gmpy2.mpz(_os2ip(blinded_msg))
    if m >= key.n:  # RSASP1 step 1: "message representative out of range"
        raise InvalidInput("blinded message is not smaller than the modulus")

    # Base blinding with a fresh random unit r.
    while True:
        r = gmpy2.mpz(secrets.randbelow(int(key.n) - 2) + 2)
        if gmpy2.gcd(r, key.n) == 1:
            break
    s_blinded = _rsasp1_crt(key, (m * gmpy2.powmod(r, key.e, key.n)) % key.n)
    s = (s_blinded * gmpy2.invert(r, key.n)) % key.n

    # Steps 3-4: fault-attack protection, check that RSAVP1(pk, s) == m.
    if gmpy2.powmod(s, key.e, key.n) != m:
        raise SigningFailure("signature self-check failed (s^e mod n != m); output withheld")
    return _i2osp(s, key.modulus_len)


# --------------------------------------------------------------------------- verification


_SHA384 = hashes.SHA384()


@cache
def _pss_sha384(salt_len: int) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(_SHA384), salt_length=salt_len)


def verify(
    public_key: rsa.RSAPublicKey, msg_prepared: bytes, sig: bytes, *, salt_len: int = SALT_LEN
) -> None:
    """Verify a finalized signature (RFC 9474, Section 4.5): RSASSA-PSS-VERIFY with
    SHA-384, MGF1-SHA-384 and ``salt_len``. ``msg_prepared`` includes any random prefix.

    Returns ``None`` on success and raises :class:`VerificationFailed` otherwise.
    """
    msg_prepared = _require_bytes("msg_prepared", msg_prepared)
    sig = _require_bytes("sig", sig)
    try:
        public_key.verify(sig, msg_prepared, _pss_sha384(salt_len), _SHA384)
    except InvalidSignature:
        raise VerificationFailed("invalid signature") from None
