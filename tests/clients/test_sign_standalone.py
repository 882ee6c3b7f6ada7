"""clients/sign.py stands alone: what it imports, and its RFC 9474 blinding
against the published test vectors and against the server's signer."""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from signatures import blindrsa
from signatures.services.common import PREPARED_TOKEN_LEN, TOKEN_CONTEXT
from tests.clients.support import CLIENT, ROOT, load_client

sign = load_client()
VECTORS = ROOT / "tests" / "signatures" / "data" / "rfc9474_test_vectors.json"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: a relative import"
            modules.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            raise AssertionError(f"{path.name}: __import__ at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and node.attr == "import_module":
            raise AssertionError(f"{path.name}: import_module at line {node.lineno}")
    return modules


@pytest.mark.parametrize("path", sorted((ROOT / "clients").glob("*.py")), ids=lambda p: p.name)
def test_clients_import_only_the_standard_library_and_cryptography(path):
    for module in imported_modules(path):
        top = module.split(".")[0]
        assert top in sys.stdlib_module_names or top == "cryptography", (
            f"{path.name} imports {module}: a standalone client may import only the "
            "standard library and cryptography"
        )


def test_the_import_check_catches_a_project_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import os\nfrom signatures import blindrsa\n")
    assert imported_modules(sneaky) == {"os", "signatures"}
    (tmp_path / "dynamic.py").write_text("import importlib\nimportlib.import_module('core')\n")
    with pytest.raises(AssertionError, match="import_module"):
        imported_modules(tmp_path / "dynamic.py")


def test_the_client_is_found_where_the_docs_say():
    assert CLIENT == ROOT / "clients" / "sign.py" and CLIENT.is_file()


def rfc9474_vector():
    (vector,) = [
        v for v in json.loads(VECTORS.read_text()) if v["name"] == "RSABSSA-SHA384-PSS-Randomized"
    ]
    as_int = {name: int(vector[name], 16) for name in ("p", "q", "n", "e", "d", "inv")}
    as_bytes = {
        name: bytes.fromhex(vector[name])
        for name in ("msg", "msg_prefix", "input_msg", "salt", "blinded_msg", "blind_sig", "sig")
    }
    public_key = rsa.RSAPublicNumbers(e=as_int["e"], n=as_int["n"]).public_key()
    return public_key, as_int, as_bytes


def test_blind_and_finalize_reproduce_the_rfc9474_vector():
    public_key, ints, data = rfc9474_vector()
    assert data["input_msg"] == data["msg_prefix"] + data["msg"]
    r = pow(ints["inv"], -1, ints["n"])  # the vector publishes inv = r^-1 mod n
    blinded, inverse = sign.blind(public_key, data["input_msg"], salt=data["salt"], r=r)
    assert blinded == data["blinded_msg"]
    assert inverse == ints["inv"]
    assert sign.finalize(public_key, data["input_msg"], data["blind_sig"], inverse) == data["sig"]


def test_the_clients_blinding_interoperates_with_the_server_signer():
    """The client's token, signed blind by the server's signatures.blindrsa,
    unblinds to a signature that cryptography's RSA-PSS accepts, and that
    the server's verify accepts."""
    issuer = blindrsa.generate_issuer_key()
    public_key = issuer.public_key
    text_hash = hashlib.sha256(b"We ask for change.").hexdigest()
    prepared = sign.prepare(sign.token_message(text_hash))
    assert len(prepared) == PREPARED_TOKEN_LEN
    assert prepared[32:51] == TOKEN_CONTEXT and prepared[51:83].hex() == text_hash
    blinded, inverse = sign.blind(public_key, prepared)
    signature = sign.finalize(public_key, prepared, blindrsa.blind_sign(issuer, blinded), inverse)
    public_key.verify(
        signature,
        prepared,
        padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48),
        hashes.SHA384(),
    )
    blindrsa.verify(public_key, prepared, signature)
    # And the other way: the server's blind() with the client's finalize().
    blinded, inv = blindrsa.blind(public_key, prepared)
    answer = blindrsa.blind_sign(issuer, blinded)
    assert sign.finalize(public_key, prepared, answer, int.from_bytes(inv, "big"))


def test_each_token_is_fresh():
    text_hash = "00" * 32
    tokens = {sign.prepare(sign.token_message(text_hash)) for _ in range(50)}
    assert len(tokens) == 50
    assert len({token[:32] for token in tokens}) == 50  # the prefix
    assert len({token[-32:] for token in tokens}) == 50  # the nonce


def test_finalize_refuses_a_blind_signature_that_does_not_verify():
    issuer = blindrsa.generate_issuer_key()
    prepared = sign.prepare(sign.token_message("11" * 32))
    blinded, inverse = sign.blind(issuer.public_key, prepared)
    good = blindrsa.blind_sign(issuer, blinded)
    wrong = bytes([good[0] ^ 1]) + good[1:]
    with pytest.raises(sign.Refused, match="does not verify"):
        sign.finalize(issuer.public_key, prepared, wrong, inverse)
    with pytest.raises(sign.Refused, match="wrong length"):
        sign.finalize(issuer.public_key, prepared, good[:-1], inverse)
    # Another token's blind signature does not finalize this one either.
    other = sign.prepare(sign.token_message("11" * 32))
    other_blinded, _ = sign.blind(issuer.public_key, other)
    with pytest.raises(sign.Refused):
        sign.finalize(
            issuer.public_key, prepared, blindrsa.blind_sign(issuer, other_blinded), inverse
        )


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 0, 1, "tile/0/000.p/1"),
        (1, 5, 17, "tile/1/005.p/17"),
        (2, 1000, 256, "tile/2/x001/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        ("entries", 0, 3, "tile/entries/000.p/3"),
        ("entries", 999, 256, "tile/entries/999"),
    ],
)
def test_tile_paths_follow_c2sp_tlog_tiles(level, index, width, path):
    assert sign.tile_path(level, index, width) == path
