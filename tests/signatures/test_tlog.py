"""signatures/tlog.py against published vectors and against a second,
deliberately naive computation of the same definitions.

- RFC 6962 / RFC 9162 hashing: the Certificate Transparency project's
  reference tree of eight leaves (roots of every prefix, an inclusion path
  and consistency proofs), as used by its implementations' tests.
- Signed notes: the key, text and signature of the Go module mirror's
  golang.org/x/mod/sumdb/note tests (Ed25519 is deterministic, so our
  signer must produce their signature byte for byte).
- C2SP tlog-tiles: the worked example of the specification (a tree of
  70,000 entries) and its path encoding.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from signatures import tlog

# --- RFC 6962 reference vectors -----------------------------------------------------

CT_LEAVES = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]
CT_CONSISTENCY = {
    (1, 8): CT_INCLUSION_0_OF_8,
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def naive_mth(entries_hashes: list[bytes]) -> bytes:
    """RFC 6962's MTH, written as the recursion of the RFC."""
    n = len(entries_hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return entries_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return tlog.node_hash(naive_mth(entries_hashes[:k]), naive_mth(entries_hashes[k:]))


def naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return naive_path(m, hashes[:k]) + [naive_mth(hashes[k:])]
    return naive_path(m - k, hashes[k:]) + [naive_mth(hashes[:k])]


def naive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [naive_mth(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return naive_subproof(m, hashes[:k], whole) + [naive_mth(hashes[k:])]
    return naive_subproof(m - k, hashes[k:], False) + [naive_mth(hashes[:k])]


def nodes_of(hashes: list[bytes]):
    def node(level: int, index: int) -> bytes:
        part = hashes[index << level : (index + 1) << level]
        assert len(part) == 1 << level, "asked for an incomplete node"
        return naive_mth(part)

    return node


def leaves(n: int) -> list[bytes]:
    return [tlog.leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_empty_tree_is_the_hash_of_nothing():
    assert tlog.EMPTY_TREE_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert tlog.root_from_leaves([]) == tlog.EMPTY_TREE_ROOT
    assert tlog.tree_root(0, nodes_of([])) == tlog.EMPTY_TREE_ROOT


def test_leaf_and_node_hashes_are_domain_separated():
    assert tlog.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        tlog.node_hash(b"a" * 32, b"b" * 32)
        == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_certificate_transparency_reference_tree():
    hashes = [tlog.leaf_hash(leaf) for leaf in CT_LEAVES]
    for n in range(1, 9):
        assert tlog.root_from_leaves(hashes[:n]).hex() == CT_ROOTS[n - 1]
        assert tlog.tree_root(n, nodes_of(hashes[:n])).hex() == CT_ROOTS[n - 1]
    node = nodes_of(hashes)
    proof = tlog.inclusion_proof(0, 8, node)
    assert [p.hex() for p in proof] == CT_INCLUSION_0_OF_8
    root = bytes.fromhex(CT_ROOTS[7])
    assert tlog.verify_inclusion(0, 8, hashes[0], proof, root)
    for (m, n), expected in CT_CONSISTENCY.items():
        proof = tlog.consistency_proof(m, n, nodes_of(hashes[:n]))
        assert [p.hex() for p in proof] == expected
        old, new = bytes.fromhex(CT_ROOTS[m - 1]), bytes.fromhex(CT_ROOTS[n - 1])
        assert tlog.verify_consistency(m, n, old, new, proof)


def test_roots_agree_with_the_rfc_recursion():
    rng = random.Random(15)
    for n in [*range(1, 70), 255, 256, 257, 511, 512, 513, rng.randrange(1000, 3000)]:
        hashes = leaves(n)
        expected = naive_mth(hashes)
        assert tlog.root_from_leaves(hashes) == expected, n
        assert tlog.tree_root(n, nodes_of(hashes)) == expected, n


def test_every_proof_of_small_trees_matches_the_rfc_and_verifies():
    hashes = leaves(33)
    for n in range(1, 34):
        prefix = hashes[:n]
        node = nodes_of(prefix)
        root = naive_mth(prefix)
        for m in range(n):
            proof = tlog.inclusion_proof(m, n, node)
            assert proof == naive_path(m, prefix), (m, n)
            assert tlog.verify_inclusion(m, n, prefix[m], proof, root)
        for m in range(1, n + 1):
            proof = tlog.consistency_proof(m, n, node)
            assert proof == naive_subproof(m, prefix, True), (m, n)
            assert tlog.verify_consistency(m, n, naive_mth(prefix[:m]), root, proof), (m, n)


def test_forged_proofs_fail():
    hashes = leaves(21)
    node = nodes_of(hashes)
    root = naive_mth(hashes)
    proof = tlog.inclusion_proof(6, 21, node)
    assert tlog.verify_inclusion(6, 21, hashes[6], proof, root)
    assert not tlog.verify_inclusion(6, 21, hashes[7], proof, root)  # another leaf
    assert not tlog.verify_inclusion(7, 21, hashes[6], proof, root)  # another index
    # Another size whose tree has another shape (the size itself is bound by
    # the signed checkpoint, not by the hashes).
    assert not tlog.verify_inclusion(6, 16, hashes[6], proof, root)
    assert not tlog.verify_inclusion(6, 40, hashes[6], proof, root)
    assert not tlog.verify_inclusion(6, 21, hashes[6], proof[:-1], root)  # too short
    assert not tlog.verify_inclusion(6, 21, hashes[6], [*proof, proof[0]], root)  # too long
    assert not tlog.verify_inclusion(21, 21, hashes[6], proof, root)  # out of the tree
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes(32)
        assert not tlog.verify_inclusion(6, 21, hashes[6], bad, root)

    old_root = naive_mth(hashes[:13])
    proof = tlog.consistency_proof(13, 21, node)
    assert tlog.verify_consistency(13, 21, old_root, root, proof)
    # A rewritten history: entry 3 replaced, then the same new tree.
    rewritten = naive_mth([*hashes[:3], tlog.leaf_hash(b"other"), *hashes[4:13]])
    assert not tlog.verify_consistency(13, 21, rewritten, root, proof)
    assert not tlog.verify_consistency(12, 21, old_root, root, proof)
    assert not tlog.verify_consistency(13, 21, old_root, root, proof[1:])
    assert not tlog.verify_consistency(0, 21, old_root, root, proof)
    assert not tlog.verify_consistency(22, 21, old_root, root, proof)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes(32)
        assert not tlog.verify_consistency(13, 21, old_root, root, bad)
    assert tlog.verify_consistency(21, 21, root, root, [])
    assert not tlog.verify_consistency(21, 21, old_root, root, [])


# --- tiles --------------------------------------------------------------------------


def test_tile_paths_as_the_specification_spells_them():
    assert tlog.tile_index_path(1234067) == "x001/x234/067"
    assert tlog.tile_index_path(0) == "000"
    assert tlog.tile_index_path(1000) == "x001/000"
    assert tlog.tile_path(0, 5) == "tile/0/005"
    assert tlog.tile_path(1, 1234067, 17) == "tile/1/x001/x234/067.p/17"
    assert tlog.tile_path("entries", 12, 3) == "tile/entries/012.p/3"
    assert tlog.parse_tile_path("0/x001/x234/067.p/17") == (0, 1234067, 17)
    assert tlog.parse_tile_path("63/000") == (63, 0, 256)
    assert tlog.parse_tile_path("entries/x001/000") == ("entries", 1000, 256)
    for level, index, width in [(0, 0, 256), (2, 999, 1), ("entries", 10**9, 255)]:
        path = tlog.tile_path(level, index, width)
        assert tlog.parse_tile_path(path.removeprefix("tile/")) == (level, index, width)


@pytest.mark.parametrize(
    "path",
    [
        "0",
        "0/5",
        "0/0005",
        "0/x000/005",  # a leading group of zeros: not the one spelling
        "0/001/002",  # the x is missing
        "00/000",
        "64/000",
        "-1/000",
        "data/000",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/05",
        "0/000.p/",
        "0/000.p",
        "0/00a",
        "0/x00١/000",
        "0/000/",
        "/0/000",
        "0/" + "x000/" * 60 + "001",
    ],
)
def test_tile_paths_refused(path):
    with pytest.raises(tlog.LogFormatError):
        tlog.parse_tile_path(path)


def test_tiles_of_the_specification_example():
    tiles = list(tlog.tiles_for_size(70_000))
    full0 = [t for t in tiles if t[0] == 0 and t[2] == 256]
    assert len(full0) == 273
    assert (0, 273, 112) in tiles
    assert (1, 0, 256) in tiles
    assert (1, 1, 17) in tiles
    assert (2, 0, 1) in tiles
    assert len(tiles) == 273 + 4
    assert list(tlog.tiles_for_size(256)) == [(0, 0, 256), (1, 0, 1)]
    assert list(tlog.tiles_for_size(0)) == []
    assert tlog.edge_tile_positions(70_000) == {0: 273, 1: 1, 2: 0}
    assert tlog.edge_tile_positions(65_536) == {2: 0}


def build_tiles(hashes: list[bytes], chunks: list[int]) -> tuple[dict, int]:
    """Tiles of a tree grown by appending `hashes` in chunks of these sizes."""
    store: dict[tuple[int, int], bytes] = {}
    size = 0
    position = 0
    for chunk in chunks:
        part = hashes[position : position + chunk]
        edge = {
            level: store.get((level, index), b"")
            for level, index in tlog.edge_tile_positions(size).items()
        }
        store.update(tlog.tiles_after_append(size=size, edge=edge, leaf_hashes=part))
        size += len(part)
        position += chunk
    return store, size


def test_tiles_grown_in_chunks_give_the_tree_of_the_leaves():
    rng = random.Random(6962)
    hashes = leaves(70_000)
    chunks = []
    while sum(chunks) < len(hashes):
        chunks.append(rng.choice([1, 2, 255, 256, 257, 1000, 5000]))
    store, size = build_tiles(hashes, chunks)
    assert size == 70_000
    # Every tile the specification lists, with its width, and nothing else.
    assert {key: len(data) // 32 for key, data in store.items()} == {
        (level, index): width for level, index, width in tlog.tiles_for_size(size)
    }
    # Level 0 holds the leaf hashes; a level-1 hash is the root of a full level-0 tile.
    assert store[(0, 3)] == b"".join(hashes[768:1024])
    assert store[(1, 0)][32:64] == naive_mth(hashes[256:512])
    assert store[(2, 0)] == naive_mth(hashes[:65536])
    node = tlog.TileNodes(lambda level, index: store[(level, index)])
    assert tlog.tree_root(size, node) == tlog.root_from_leaves(hashes)
    assert node(12, 16) == naive_mth(hashes[65536:69632])
    # Proofs from tiles equal proofs from the leaves.
    root = tlog.root_from_leaves(hashes)
    for index in [0, 255, 256, 65535, 65536, 69999]:
        proof = tlog.inclusion_proof(index, size, node)
        assert tlog.verify_inclusion(index, size, hashes[index], proof, root)
    for old in [1, 256, 300, 65536, 65537]:
        proof = tlog.consistency_proof(old, size, node)
        assert tlog.verify_consistency(old, size, tlog.root_from_leaves(hashes[:old]), root, proof)


def test_a_small_tree_grown_one_leaf_at_a_time():
    hashes = leaves(600)
    store, size = build_tiles(hashes, [1] * 600)
    node = tlog.TileNodes(lambda level, index: store[(level, index)])
    for n in (1, 2, 3, 255, 256, 257, 511, 512, 513, 600):
        assert tlog.tree_root(n, node) == naive_mth(hashes[:n])


def test_appending_needs_the_edge_tiles_as_stored():
    with pytest.raises(ValueError):
        tlog.tiles_after_append(size=3, edge={}, leaf_hashes=leaves(1))


def test_entry_bundles():
    entries = [b"", b"a", b"x" * 300, "é".encode()]
    bundle = tlog.entry_bundle(entries)
    assert bundle[:2] == b"\x00\x00" and bundle[2:5] == b"\x00\x01a"
    assert tlog.parse_entry_bundle(bundle) == entries
    for bad in (b"\x00", b"\x00\x05abc", bundle[:-1]):
        with pytest.raises(tlog.LogFormatError):
            tlog.parse_entry_bundle(bad)
    with pytest.raises(ValueError):
        tlog.entry_bundle([b"x" * 65536])


# --- entries ---------------------------------------------------------------------------


def test_entries_are_canonical_json():
    der = b"\x30\x82spki"
    entry = tlog.letter_entry(text_sha256="ab" * 32, issuer_spki_der=der)
    assert entry == (
        b'{"issuer_key":"MIJzcGtp","kind":"letter","text_sha256":"' + b"ab" * 32 + b'",'
        b'"variant":"RSABSSA-SHA384-PSS-Randomized"}'
    )
    entry = tlog.signature_entry(token=b"\xfb\xff", signature=b"\x00", fields_sha256="cd" * 32)
    assert json.loads(entry) == {
        "kind": "signature",
        "token": "-_8",
        "signature": "AA",
        "fields_sha256": "cd" * 32,
    }
    assert entry.startswith(b'{"fields_sha256":"') and b" " not in entry
    assert tlog.withdrawal_entry(token_sha256="ef" * 32) == (
        b'{"kind":"withdrawal","token_sha256":"' + b"ef" * 32 + b'"}'
    )
    assert tlog.canonical_json({"b": "ü", "a": [1, None]}) == '{"a":[1,null],"b":"ü"}'.encode()


def test_fields_hash_commits_to_every_field_with_its_salt():
    fields = {
        "salt": "c2FsdHNhbHRzYWx0c2FsdA",
        "pseudonym": "Quiet Heron",
        "public_name": "",
        "reveal_at": None,
        "department": "Legal",
        "location": "Oslo",
        "comment": "",
        "attestations": [3, 1],
    }
    expected = hashlib.sha256(
        b'{"attestations":[1,3],"comment":"","department":"Legal","location":"Oslo",'
        b'"pseudonym":"Quiet Heron","public_name":"","reveal_at":null,'
        b'"salt":"c2FsdHNhbHRzYWx0c2FsdA"}'
    ).hexdigest()
    assert tlog.fields_sha256(**fields) == expected
    for name, other in [("salt", "b3RoZXI"), ("department", "Sales"), ("reveal_at", 5)]:
        assert tlog.fields_sha256(**{**fields, name: other}) != expected
    salt = tlog.new_salt()
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16 and salt != tlog.new_salt()


# --- signed notes -------------------------------------------------------------------------

# golang.org/x/mod/sumdb/note's tests: PeterNeumann's key and signature.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_OTHER_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIGNATURE_LINE = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
GO_OTHER_SIGNATURE_LINE = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
)


def go_private_key() -> ed25519.Ed25519PrivateKey:
    seed = base64.b64decode(GO_SIGNER.split("+", 4)[-1])[1:]
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def test_signed_note_matches_go_byte_for_byte():
    key = go_private_key()
    public = tlog.public_key_bytes(key)
    assert tlog.verifier_key("PeterNeumann", public) == GO_VERIFIER
    assert tlog.parse_verifier_key(GO_VERIFIER) == (
        "PeterNeumann",
        bytes.fromhex("c74f20a3"),
        public,
    )
    note = tlog.sign_note(GO_TEXT, name="PeterNeumann", private_key=key)
    assert note == GO_TEXT + "\n" + GO_SIGNATURE_LINE
    assert tlog.open_note(note, GO_VERIFIER) == GO_TEXT
    # Another key's signature is ignored, in either order.
    both = GO_TEXT + "\n" + GO_OTHER_SIGNATURE_LINE + GO_SIGNATURE_LINE
    assert tlog.open_note(both, GO_VERIFIER) == GO_TEXT
    assert tlog.open_note(both, GO_OTHER_VERIFIER) == GO_TEXT


def test_verifier_keys_whose_base64_holds_a_plus():
    while True:
        key = ed25519.Ed25519PrivateKey.generate()
        verifier = tlog.verifier_key("example.org/letters/x", tlog.public_key_bytes(key))
        if "+" in verifier.split("+", 2)[2]:
            break
    note = tlog.sign_note(
        "example.org/letters/x\n1\nAAAA\n", name="example.org/letters/x", private_key=key
    )
    assert tlog.open_note(note, verifier).startswith("example.org/letters/x\n")


def test_notes_that_do_not_verify():
    note = GO_TEXT + "\n" + GO_SIGNATURE_LINE
    other = ed25519.Ed25519PrivateKey.generate()
    other_verifier = tlog.verifier_key("PeterNeumann", tlog.public_key_bytes(other))
    failures = {
        "another key of the same name": (note, other_verifier),
        "a changed text": (note.replace("problem,", "problem;"), GO_VERIFIER),
        "only another key's signature": (GO_TEXT + "\n" + GO_OTHER_SIGNATURE_LINE, GO_VERIFIER),
        "no signature": (GO_TEXT, GO_VERIFIER),
        "a bad signature line": (GO_TEXT + "\n-- PeterNeumann AAAA\n", GO_VERIFIER),
        "no final newline": (note[:-1], GO_VERIFIER),
    }
    for reason, (text, verifier) in failures.items():
        with pytest.raises(tlog.NoteVerificationFailed):
            tlog.open_note(text, verifier)
            pytest.fail(reason)
    forged = bytearray(base64.b64decode(GO_SIGNATURE_LINE.split()[-1]))
    forged[10] ^= 1
    line = "\u2014 PeterNeumann " + base64.b64encode(bytes(forged)).decode() + "\n"
    with pytest.raises(tlog.NoteVerificationFailed, match="invalid signature"):
        tlog.open_note(GO_TEXT + "\n" + line, GO_VERIFIER)


@pytest.mark.parametrize(
    "verifier",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+zz4f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_verifier_keys_refused(verifier):
    with pytest.raises(tlog.LogFormatError):
        tlog.parse_verifier_key(verifier)


def test_checkpoints():
    root = hashlib.sha256(b"root").digest()
    body = tlog.checkpoint_body("example.org/letters/x", 70_000, root)
    assert body == f"example.org/letters/x\n70000\n{base64.b64encode(root).decode()}\n"
    assert tlog.parse_checkpoint(body) == ("example.org/letters/x", 70_000, root)
    assert tlog.parse_checkpoint(body + "extension\n")[1] == 70_000
    for bad in (
        body[:-1],
        body.replace("70000", "070000"),
        body.replace("70000", "-1"),
        "example.org\n1\nAAAA\n",
        "\n1\n" + base64.b64encode(root).decode() + "\n",
    ):
        with pytest.raises(tlog.LogFormatError):
            tlog.parse_checkpoint(bad)
