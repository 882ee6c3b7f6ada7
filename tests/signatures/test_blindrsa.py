"""Tests for signatures.blindrsa against the RFC 9474 test vectors (Appendix A).

Plain pytest functions: no Django settings or database are needed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import gmpy2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signatures import blindrsa
from signatures.blindrsa import (
    BlindRSAError,
    InvalidInput,
    IssuerKey,
    SigningFailure,
    VerificationFailed,
    blind,
    blind_sign,
    finalize,
    generate_issuer_key,
    prepare,
    verify,
)

# --------------------------------------------------------------------------- vectors

_VECTOR_FILE = "rfc9474_test_vectors.json"
_VECTOR_CANDIDATES = [
    Path(__file__).resolve().parent / "data" / _VECTOR_FILE,  # copy shipped with the tests
    Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / _VECTOR_FILE,
]


def _load_vectors() -> list[dict[str, str]] | None:
    for path in _VECTOR_CANDIDATES:
        if path.is_file():
            return json.loads(path.read_text())
    return None


_VECTORS = _load_vectors()
if _VECTORS is None:
    _VECTOR_PARAMS = [
        pytest.param(
            None,
            marks=pytest.mark.skip(reason=f"{_VECTOR_FILE} not found in {_VECTOR_CANDIDATES}"),
        )
    ]
else:
    _VECTOR_PARAMS = [pytest.param(v, id=v["name"]) for v in _VECTORS]


class Vector:
    """One RFC 9474 test vector with its hex fields decoded."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw
        p, q, n, e, d = (self.as_int(k) for k in "pqned")
        priv = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e=e, n=n),
        ).private_key()
        self.key = IssuerKey.from_private_key(priv)
        self.pk = self.key.public_key
        self.n = n
        self.salt_len = self.as_int("sLen")
        self.r = pow(self.as_int("inv"), -1, n)  # the vectors publish inv = r^-1 mod n

    def as_int(self, name: str) -> int:
        return int(self.raw[name], 16)

    def as_bytes(self, name: str) -> bytes:
        return bytes.fromhex(self.raw[name].removeprefix("0x"))


@pytest.fixture(scope="module", params=_VECTOR_PARAMS)
def vector(request: pytest.FixtureRequest) -> Vector:
    # Module scope: building the 4096-bit key validates its primes, which is slow.
    return Vector(request.param)


def test_vector_file_is_present() -> None:
    assert _VECTORS is not None and len(_VECTORS) == 4


def test_vector_variants_are_consistent(vector: Vector) -> None:
    name = vector.raw["name"]
    assert vector.salt_len == (0 if "PSSZERO" in name else 48)
    assert bool(vector.as_int("is_randomized")) == name.endswith("-Randomized")
    assert vector.as_bytes("input_msg") == vector.as_bytes("msg_prefix") + vector.as_bytes("msg")


# --------------------------------------------------------------------------- vector tests


def test_pss_encoding_matches_vector(vector: Vector) -> None:
    # RSAVP1 of the final signature recovers the PSS encoding, so every vector can be
    # checked, not only those that publish encoded_msg. RFC 8017: emBits = modBits - 1.
    em_bits = vector.n.bit_length() - 1
    encoded = blindrsa._emsa_pss_encode(
        vector.as_bytes("input_msg"), em_bits, vector.as_bytes("salt")
    )
    k = vector.key.modulus_len
    recovered = pow(vector.as_int("sig"), vector.as_int("e"), vector.n).to_bytes(k, "big")
    assert encoded.rjust(k, b"\x00") == recovered
    if "encoded_msg" in vector.raw:
        assert recovered == vector.as_bytes("encoded_msg")


def test_blind_reproduces_vector(vector: Vector) -> None:
    blinded, inv = blind(
        vector.pk,
        vector.as_bytes("input_msg"),
        salt_len=vector.salt_len,
        salt=vector.as_bytes("salt"),
        r=vector.r,
    )
    assert blinded == vector.as_bytes("blinded_msg")
    assert inv == vector.as_int("inv").to_bytes(vector.key.modulus_len, "big")


def test_blind_sign_reproduces_vector(vector: Vector, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spy on the CRT exponentiation to prove server-side base blinding is active:
    # the value actually exponentiated must differ from the client's blinded message.
    seen: list[int] = []
    real = blindrsa._rsasp1_crt

    def spy(key: IssuerKey, c: Any) -> Any:
        seen.append(int(c))
        return real(key, c)

    monkeypatch.setattr(blindrsa, "_rsasp1_crt", spy)
    blinded = vector.as_bytes("blinded_msg")
    assert blind_sign(vector.key, blinded) == vector.as_bytes("blind_sig")
    assert blind_sign(vector.key, blinded) == vector.as_bytes("blind_sig")  # still deterministic
    assert len(seen) == 2 and seen[0] != seen[1]
    assert int.from_bytes(blinded, "big") not in seen


def test_blind_sign_accepts_raw_cryptography_key(vector: Vector) -> None:
    sig = blind_sign(vector.key.private_key, vector.as_bytes("blinded_msg"))
    assert sig == vector.as_bytes("blind_sig")


def test_finalize_reproduces_vector(vector: Vector) -> None:
    sig = finalize(
        vector.pk,
        vector.as_bytes("input_msg"),
        vector.as_bytes("blind_sig"),
        vector.as_int("inv").to_bytes(vector.key.modulus_len, "big"),
        salt_len=vector.salt_len,
    )
    assert sig == vector.as_bytes("sig")


def test_verify_accepts_vector_signature(vector: Vector) -> None:
    verify(
        vector.pk, vector.as_bytes("input_msg"), vector.as_bytes("sig"), salt_len=vector.salt_len
    )


def test_verify_rejects_modified_message(vector: Vector) -> None:
    msg = bytearray(vector.as_bytes("input_msg"))
    msg[-1] ^= 0x01
    with pytest.raises(VerificationFailed):
        verify(vector.pk, bytes(msg), vector.as_bytes("sig"), salt_len=vector.salt_len)


def test_verify_binds_the_prefix(vector: Vector) -> None:
    msg, sig, salt_len = vector.as_bytes("msg"), vector.as_bytes("sig"), vector.salt_len
    if vector.as_bytes("msg_prefix"):  # randomized: the bare message is not what was signed
        with pytest.raises(VerificationFailed):
            verify(vector.pk, msg, sig, salt_len=salt_len)
    else:  # deterministic: the prepared message is the message itself
        verify(vector.pk, msg, sig, salt_len=salt_len)


@pytest.mark.parametrize("position", [0, 100, -1])
def test_verify_rejects_modified_signature(vector: Vector, position: int) -> None:
    sig = bytearray(vector.as_bytes("sig"))
    sig[position] ^= 0x01
    with pytest.raises(VerificationFailed):
        verify(vector.pk, vector.as_bytes("input_msg"), bytes(sig), salt_len=vector.salt_len)


def test_verify_rejects_truncated_signature_and_wrong_salt_len(vector: Vector) -> None:
    msg, sig = vector.as_bytes("input_msg"), vector.as_bytes("sig")
    with pytest.raises(VerificationFailed):
        verify(vector.pk, msg, sig[1:], salt_len=vector.salt_len)
    with pytest.raises(VerificationFailed):
        verify(vector.pk, msg, sig, salt_len=48 - vector.salt_len)


def test_finalize_rejects_wrong_inverse(vector: Vector) -> None:
    wrong_inv = (vector.as_int("inv") + 1).to_bytes(vector.key.modulus_len, "big")
    with pytest.raises(VerificationFailed):
        finalize(
            vector.pk,
            vector.as_bytes("input_msg"),
            vector.as_bytes("blind_sig"),
            wrong_inv,
            salt_len=vector.salt_len,
        )


def test_blind_sign_self_check_catches_fault(
    vector: Vector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate a Bellcore-style fault: the half-exponentiation mod p comes out wrong.
    real_powmod_sec = gmpy2.powmod_sec
    p = vector.key.p

    def faulty(x: Any, y: Any, m: Any) -> Any:
        result = real_powmod_sec(x, y, m)
        return (result + 1) % m if m == p else result

    monkeypatch.setattr(blindrsa.gmpy2, "powmod_sec", faulty)
    with pytest.raises(SigningFailure, match="self-check"):
        blind_sign(vector.key, vector.as_bytes("blinded_msg"))


# --------------------------------------------------------------------------- fresh key


@pytest.fixture(scope="module")
def fresh_key() -> IssuerKey:
    return generate_issuer_key(2048)


@pytest.mark.parametrize("randomized", [True, False], ids=["randomized", "deterministic"])
@pytest.mark.parametrize("salt_len", [48, 0], ids=["PSS", "PSSZERO"])
def test_round_trip_with_fresh_key(fresh_key: IssuerKey, randomized: bool, salt_len: int) -> None:
    pk = fresh_key.public_key
    msg = b"vote token for election 42"
    prepared = prepare(msg, randomized=randomized)
    blinded, inv = blind(pk, prepared, salt_len=salt_len)
    assert len(blinded) == len(inv) == 256
    blind_sig = blind_sign(fresh_key, blinded)
    sig = finalize(pk, prepared, blind_sig, inv, salt_len=salt_len)
    verify(pk, prepared, sig, salt_len=salt_len)
    assert sig != blind_sig  # the server never sees the final signature
    with pytest.raises(VerificationFailed):
        verify(pk, prepared + b"!", sig, salt_len=salt_len)


def test_default_variant_is_pss_randomized(fresh_key: IssuerKey) -> None:
    prepared = prepare(b"hello")
    assert len(prepared) == 32 + 5 and prepared.endswith(b"hello")
    assert prepare(b"hello") != prepared
    assert prepare(b"hello", randomized=False) == b"hello"
    pk = fresh_key.public_key
    blinded, inv = blind(pk, prepared)
    sig = finalize(pk, prepared, blind_sign(fresh_key, blinded), inv)
    verify(pk, prepared, sig)
    with pytest.raises(VerificationFailed):  # PSS signature is not a PSSZERO one
        verify(pk, prepared, sig, salt_len=0)


def test_blinding_is_randomized(fresh_key: IssuerKey) -> None:
    prepared = prepare(b"same message", randomized=False)
    first, inv1 = blind(fresh_key.public_key, prepared)
    second, inv2 = blind(fresh_key.public_key, prepared)
    assert first != second and inv1 != inv2


def test_signature_from_other_key_is_rejected(fresh_key: IssuerKey) -> None:
    other = generate_issuer_key(2048)
    prepared = prepare(b"msg")
    blinded, inv = blind(other.public_key, prepared)
    sig = finalize(other.public_key, prepared, blind_sign(other, blinded), inv)
    with pytest.raises(VerificationFailed):
        verify(fresh_key.public_key, prepared, sig)
    assert other.key_id != fresh_key.key_id


def test_finalize_rejects_response_signed_by_wrong_key(fresh_key: IssuerKey) -> None:
    other = generate_issuer_key(2048)
    prepared = prepare(b"msg")
    # The blinded message must also be below the other modulus, or blind_sign
    # rightly refuses it as out of range (about half the time).
    while True:
        blinded, inv = blind(fresh_key.public_key, prepared)
        if int.from_bytes(blinded, "big") < other.n:
            break
    with pytest.raises(VerificationFailed):
        finalize(fresh_key.public_key, prepared, blind_sign(other, blinded), inv)


def test_issuer_key_metadata(fresh_key: IssuerKey) -> None:
    pem = fresh_key.public_key_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    loaded = serialization.load_pem_public_key(pem.encode())
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == fresh_key.public_key.public_numbers()
    der = loaded.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert fresh_key.key_id == hashlib.sha256(der).hexdigest()
    assert fresh_key.modulus_len == 256
    assert str(int(fresh_key.p)) not in repr(fresh_key)  # secrets are kept out of repr
    # One public key object per issuer key: OpenSSL keeps its verification
    # precomputation on the object, which every redemption reuses.
    assert fresh_key.public_key is fresh_key.public_key


def test_issuer_key_from_pem(fresh_key: IssuerKey) -> None:
    pem = fresh_key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert IssuerKey.from_pem(pem).key_id == fresh_key.key_id
    assert IssuerKey.from_pem(pem.decode()).key_id == fresh_key.key_id


def test_generate_issuer_key_rejects_small_modulus() -> None:
    with pytest.raises(InvalidInput, match="2048"):
        generate_issuer_key(1024)


# --------------------------------------------------------------------------- bad inputs


def _n_bytes(key: IssuerKey) -> bytes:
    return int(key.n).to_bytes(key.modulus_len, "big")


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda key: b"", "must be 256 bytes, got 0"),
        (lambda key: b"\x01" * 255, "must be 256 bytes, got 255"),
        (lambda key: b"\x01" * 257, "must be 256 bytes, got 257"),
        (_n_bytes, "not smaller than the modulus"),
        (lambda key: (int(key.n) + 1).to_bytes(256, "big"), "not smaller than the modulus"),
        (lambda key: b"\xff" * 256, "not smaller than the modulus"),
        (lambda key: "not bytes", "must be bytes, got str"),
        (lambda key: None, "must be bytes, got NoneType"),
        (lambda key: 12345, "must be bytes, got int"),
    ],
    ids=["empty", "short", "long", "n", "n+1", "all-ff", "str", "none", "int"],
)
def test_blind_sign_rejects_bad_input(fresh_key: IssuerKey, make_input: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as excinfo:
        blind_sign(fresh_key, make_input(fresh_key))
    assert isinstance(excinfo.value, BlindRSAError) and isinstance(excinfo.value, ValueError)


def test_blind_sign_accepts_bytearray(fresh_key: IssuerKey) -> None:
    blinded, _ = blind(fresh_key.public_key, prepare(b"x"))
    assert blind_sign(fresh_key, bytearray(blinded)) == blind_sign(fresh_key, blinded)


def test_blind_sign_self_check_catches_corrupted_result(
    fresh_key: IssuerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    blinded, _ = blind(fresh_key.public_key, prepare(b"x"))
    real = blindrsa._rsasp1_crt
    monkeypatch.setattr(blindrsa, "_rsasp1_crt", lambda key, c: real(key, c) + 1)
    with pytest.raises(SigningFailure):
        blind_sign(fresh_key, blinded)


def test_finalize_rejects_garbage(fresh_key: IssuerKey) -> None:
    pk = fresh_key.public_key
    prepared = prepare(b"x")
    blinded, inv = blind(pk, prepared)
    blind_sig = blind_sign(fresh_key, blinded)
    with pytest.raises(InvalidInput, match="256 bytes"):
        finalize(pk, prepared, blind_sig[:-1], inv)
    with pytest.raises(InvalidInput, match="256 bytes"):
        finalize(pk, prepared, blind_sig, inv + b"\x00")
    with pytest.raises(InvalidInput, match="must be bytes"):
        finalize(pk, prepared, blind_sig.hex(), inv)  # type: ignore[arg-type]
    with pytest.raises(VerificationFailed):
        finalize(pk, prepared, bytes(range(256)), inv)
    with pytest.raises(VerificationFailed):
        finalize(pk, prepared + b"?", blind_sig, inv)


def test_verify_rejects_garbage(fresh_key: IssuerKey) -> None:
    pk = fresh_key.public_key
    for sig in (b"", b"\x00" * 256, b"\xff" * 256, b"\x01" * 300):
        with pytest.raises(VerificationFailed):
            verify(pk, b"msg", sig)
    with pytest.raises(InvalidInput):
        verify(pk, "msg", b"\x00" * 256)  # type: ignore[arg-type]


def test_blind_rejects_bad_parameters(fresh_key: IssuerKey) -> None:
    pk = fresh_key.public_key
    with pytest.raises(InvalidInput, match="salt must be 48 bytes"):
        blind(pk, b"msg", salt=b"\x00" * 47)
    for r in (0, int(fresh_key.n), int(fresh_key.p)):
        with pytest.raises(InvalidInput, match="blinding factor"):
            blind(pk, b"msg", r=r)
    with pytest.raises(InvalidInput, match="must be bytes"):
        blind(pk, "msg")  # type: ignore[arg-type]
