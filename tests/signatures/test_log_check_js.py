"""The receipt page's log checks (static/js/log-check.js, run in Node by
node/log_check.mjs) against vectors made by the Python reference,
signatures/tlog.py, and against the real server's checkpoints, entry
bundles and proofs; with the attacks the checks exist for: a wrong proof, a
wrong root, a forged note signature, a log rewritten since it was seen."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.test import Client

from signatures import tlog
from signatures.log_selectors import log_entries
from signatures.services.eligibility import invite_codes_create
from tests.signatures.helpers import SigningClient, post_json

NODE = shutil.which("node")
RUNNER = Path(__file__).parent / "node" / "log_check.mjs"

pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (apt-get install nodejs)")


def b(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode("ascii")}


def hashes(values: list[bytes]) -> list[dict]:
    return [b(h) for h in values]


def run_js(cases: list[dict]) -> list[dict]:
    result = subprocess.run(
        [NODE, str(RUNNER)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert len(answers) == len(cases)
    return answers


def call(fn: str, *args) -> dict:
    return {"fn": fn, "args": list(args)}


def value(answer: dict):
    assert "error" not in answer, answer
    return answer["value"]


def unb(encoded: dict) -> bytes:
    return base64.b64decode(encoded["b64"])


def flip(data: bytes, position: int = 0) -> bytes:
    return data[:position] + bytes([data[position] ^ 1]) + data[position + 1 :]


class Tree:
    """A tree of `size` made-up entries, hashed by signatures.tlog."""

    def __init__(self, entries: list[bytes]):
        self.entries = entries
        self.leaves = [tlog.leaf_hash(e) for e in entries]

    @classmethod
    def of(cls, size: int, *, salt: str = "") -> Tree:
        return cls([f'{{"n":{i}{salt}}}'.encode() for i in range(size)])

    def node(self, level: int, index: int) -> bytes:
        return tlog.root_from_leaves(self.leaves[index << level : (index + 1) << level])

    def root(self, size: int | None = None) -> bytes:
        return tlog.tree_root(len(self.leaves) if size is None else size, self.node)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return tlog.inclusion_proof(index, size, self.node)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return tlog.consistency_proof(old, new, self.node)


# --- hashing ------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_rfc_6962s():
    entries = [b"", b"abc", "Grève générale ✊".encode(), bytes(range(256)) * 3]
    left, right = tlog.leaf_hash(b"l"), tlog.leaf_hash(b"r")
    answers = run_js(
        [call("leafHash", b(e)) for e in entries] + [call("nodeHash", b(left), b(right))]
    )
    assert [unb(value(a)) for a in answers[:-1]] == [tlog.leaf_hash(e) for e in entries]
    assert unb(value(answers[-1])) == tlog.node_hash(left, right)


# --- inclusion ------------------------------------------------------------------------------


def test_every_inclusion_proof_of_trees_up_to_40_leads_to_the_root():
    tree = Tree.of(40)
    cases, expected = [], []
    for size in range(1, 41):
        for index in range(size):
            proof = tree.inclusion(index, size)
            cases.append(
                call("rootFromInclusionProof", index, size, b(tree.leaves[index]), hashes(proof))
            )
            expected.append(tree.root(size))
    answers = run_js(cases)
    assert [unb(value(a)) for a in answers] == expected


def test_a_wrong_inclusion_proof_or_root_is_refused():
    tree = Tree.of(21)
    size, index = 21, 13
    leaf, root = tree.leaves[index], tree.root()
    proof = tree.inclusion(index, size)
    assert tlog.verify_inclusion(index, size, leaf, proof, root)
    other_leaf = tree.leaves[index - 1]
    wrong = {
        "a flipped bit in one hash": [proof[0], flip(proof[1]), *proof[2:]],
        "two hashes swapped": [proof[1], proof[0], *proof[2:]],
        "a hash missing": proof[:-1],
        "a hash too many": [*proof, proof[-1]],
        "the first hash of another leaf's proof": [tree.inclusion(index - 1, size)[0], *proof[1:]],
    }
    cases = [call("verifyInclusion", index, size, b(leaf), hashes(proof), b(root))]
    for bad in wrong.values():
        assert not tlog.verify_inclusion(index, size, leaf, bad, root)
        cases.append(call("verifyInclusion", index, size, b(leaf), hashes(bad), b(root)))
    # The right proof, but not for this leaf, this place, this tree or this root.
    others = [
        (index, size, other_leaf, root),
        (index - 1, size, leaf, root),
        (index, size - 5, leaf, tree.root(size - 5)),
        (index, size, leaf, tree.root(size - 1)),
        (index, size, leaf, flip(root, 31)),
    ]
    for i, n, one_leaf, one_root in others:
        assert not tlog.verify_inclusion(i, n, one_leaf, proof, one_root)
        cases.append(call("verifyInclusion", i, n, b(one_leaf), hashes(proof), b(one_root)))
    answers = run_js(cases)
    assert [value(a) for a in answers] == [True] + [False] * (len(wrong) + len(others))
    # A proof of the wrong length says so, rather than a root.
    (too_long,) = run_js(
        [call("rootFromInclusionProof", index, size, b(leaf), hashes(wrong["a hash too many"]))]
    )
    assert too_long["error"] == "inclusion" and "too long" in too_long["message"]


# --- consistency ------------------------------------------------------------------------------


def test_every_consistency_proof_of_trees_up_to_33_holds():
    tree = Tree.of(33)
    cases = []
    for new in range(1, 34):
        for old in range(1, new + 1):
            proof = tree.consistency(old, new)
            cases.append(
                call(
                    "verifyConsistency",
                    old,
                    new,
                    b(tree.root(old)),
                    b(tree.root(new)),
                    hashes(proof),
                )
            )
    answers = run_js(cases)
    assert [value(a) for a in answers] == [True] * len(cases)


def test_a_rewritten_log_fails_the_consistency_check():
    """The browser kept the root of the log as it was; the server then
    rewrote an entry it had published and grew the log: no proof it can
    compute from the rewritten tree shows the kept root to be its prefix."""
    seen = Tree.of(32)
    cases, pairs = [], []
    for old, new, changed in [(7, 20, 0), (7, 20, 6), (8, 20, 3), (16, 17, 15), (13, 32, 12)]:
        rewritten = Tree([*seen.entries[:changed], b'{"n":"forged"}', *seen.entries[changed + 1 :]])
        proof = rewritten.consistency(old, new)
        assert not tlog.verify_consistency(old, new, seen.root(old), rewritten.root(new), proof)
        cases.append(
            call(
                "verifyConsistency",
                old,
                new,
                b(seen.root(old)),
                b(rewritten.root(new)),
                hashes(proof),
            )
        )
        pairs.append((old, new))
    tree = Tree.of(20)
    proof = tree.consistency(7, 20)
    old_root, new_root = tree.root(7), tree.root(20)
    attacks = [
        (7, 20, old_root, flip(new_root), proof),  # a wrong new root
        (7, 20, flip(old_root), new_root, proof),  # a wrong old root
        (7, 20, old_root, new_root, proof[:-1]),  # a hash missing
        (7, 20, old_root, new_root, [*proof, proof[0]]),  # a hash too many
        (7, 20, old_root, new_root, [flip(proof[1]), *proof[1:]]),  # a flipped bit
        (7, 20, old_root, new_root, []),  # no proof at all
        (8, 20, tree.root(8), new_root, tree.consistency(8, 20)[:0]),  # a power of two, no proof
        (20, 7, new_root, old_root, proof),  # backwards: the log shrank
        (20, 20, new_root, new_root, proof),  # the same size needs no proof
        (20, 20, new_root, old_root, []),  # the same size, another root
        (0, 20, old_root, new_root, proof),  # size 0 has nothing to prove
    ]
    for old, new, r1, r2, p in attacks:
        cases.append(call("verifyConsistency", old, new, b(r1), b(r2), hashes(p)))
    cases.append(call("verifyConsistency", 20, 20, b(new_root), b(new_root), []))
    answers = run_js(cases)
    assert [value(a) for a in answers] == [False] * (len(pairs) + len(attacks)) + [True]


# --- signed notes and checkpoints ----------------------------------------------------------


ORIGIN = "organizing.example/letters/stop-logging"


def signed(text: str, key: ed25519.Ed25519PrivateKey, name: str = ORIGIN) -> str:
    return tlog.sign_note(text, name=name, private_key=key)


def verifier(key: ed25519.Ed25519PrivateKey, name: str = ORIGIN) -> str:
    return tlog.verifier_key(name, tlog.public_key_bytes(key))


def test_a_checkpoint_signed_by_the_log_key_opens():
    key = ed25519.Ed25519PrivateKey.generate()
    root = Tree.of(5).root()
    body = tlog.checkpoint_body(ORIGIN, 5, root)
    note = signed(body, key)
    assert tlog.open_note(note, verifier(key)) == body
    # Another key's signature beside it is ignored, as the specification says.
    other = ed25519.Ed25519PrivateKey.generate()
    cosigned = note + signed(body, other, name="witness.example").split("\n\n", 1)[1]
    answers = run_js(
        [
            call("openNote", note, verifier(key)),
            call("openNote", cosigned, verifier(key)),
            call("parseCheckpoint", body),
            call("parseVerifierKey", verifier(key)),
        ]
    )
    assert value(answers[0]) == value(answers[1]) == body
    parsed = value(answers[2])
    assert (parsed["origin"], parsed["size"], unb(parsed["root"])) == (ORIGIN, 5, root)
    name, key_id, public = tlog.parse_verifier_key(verifier(key))
    parsed = value(answers[3])
    assert (parsed["name"], parsed["keyId"], unb(parsed["publicKey"])) == (
        name,
        key_id.hex(),
        public,
    )


def test_a_forged_or_altered_note_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    body = tlog.checkpoint_body(ORIGIN, 5, Tree.of(5).root())
    note = signed(body, key)
    text, _, line = note.rpartition("\n\n")
    prefix, encoded = line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    forger = ed25519.Ed25519PrivateKey.generate()
    # The forger signs a bigger tree under the log's name, and puts the log
    # key's id in front of its own signature.
    bigger = tlog.checkpoint_body(ORIGIN, 6, Tree.of(6).root())
    forged_sig = forger.sign(bigger.encode())
    notes = {
        "signed by another key": signed(bigger, forger),
        "another key's signature behind the log key's id": (
            f"{bigger}\n{prefix} {base64.b64encode(raw[:4] + forged_sig).decode()}\n"
        ),
        "the signature with a flipped bit": (
            f"{text}\n\n{prefix} {base64.b64encode(flip(raw, 10)).decode()}\n"
        ),
        "the text changed under the signature": note.replace("\n5\n", "\n6\n", 1),
        "the root changed under the signature": note.replace(
            body.split("\n")[2], base64.b64encode(Tree.of(6).root()).decode()
        ),
        "no signature line": body + "\n",
        "no blank line": body,
    }
    for forged in notes.values():
        with pytest.raises(tlog.NoteVerificationFailed):
            tlog.open_note(forged, verifier(key))
    answers = run_js([call("openNote", forged, verifier(key)) for forged in notes.values()])
    assert [a.get("error") for a in answers] == ["note"] * len(notes), answers


def test_a_malformed_verifier_key_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    good = verifier(key)
    name, key_id, encoded = good.split("+", 2)
    other = verifier(ed25519.Ed25519PrivateKey.generate())
    bad = {
        "a key id that is not the key's": f"{name}+{flip(bytes.fromhex(key_id)).hex()}+{encoded}",
        "another key behind this id": f"{name}+{key_id}+{other.split('+', 2)[2]}",
        "not an Ed25519 key": f"{name}+{key_id}+"
        + base64.b64encode(b"\x02" + base64.b64decode(encoded)[1:]).decode(),
        "two parts": f"{name}+{encoded}",
        "a space in the name": f"a b+{key_id}+{encoded}",
    }
    answers = run_js([call("parseVerifierKey", text) for text in bad.values()])
    assert [a.get("error") for a in answers] == ["key"] * len(bad), answers


def test_a_malformed_checkpoint_is_refused():
    root = base64.b64encode(Tree.of(3).root()).decode()
    bad = [
        f"{ORIGIN}\n3\n{root}",  # no final newline
        f"{ORIGIN}\n03\n{root}\n",  # a leading zero
        f"{ORIGIN}\n-3\n{root}\n",
        f"{ORIGIN}\n3\n{root[:-4]}\n",  # not 32 bytes
        f"{ORIGIN}\n3\n{root.replace('=', '')}\n",  # no padding
        f"\n3\n{root}\n",  # no origin
    ]
    answers = run_js([call("parseCheckpoint", text) for text in bad])
    assert [a.get("error") for a in answers] == ["checkpoint"] * len(bad), answers


# --- tiles and bundles ------------------------------------------------------------------------


def test_entry_bundle_paths_and_contents_follow_tlog_tiles():
    positions = [(0, 1), (1, 2), (255, 256), (255, 300), (256, 257), (300, 513), (511, 513)]
    positions += [(256 * 1234, 256 * 1234 + 7), (256 * 999_999, 256 * 1_000_000 + 1)]
    cases = [call("entryBundlePath", i, n) for i, n in positions]
    numbers = [0, 7, 999, 1000, 1234067, 10**12]
    cases += [call("tileIndexPath", n) for n in numbers]
    entries = [b"", b"one", b"x" * 300, "é".encode()]
    bundle = tlog.entry_bundle(entries)
    cases += [call("parseEntryBundle", b(bundle)), call("parseEntryBundle", b(bundle[:-1]))]
    answers = run_js(cases)
    expected = [
        tlog.tile_path("entries", i // 256, min(256, n - (i // 256) * 256)) for i, n in positions
    ]
    assert [value(a) for a in answers[: len(positions)]] == expected
    assert [value(a) for a in answers[len(positions) : -2]] == [
        tlog.tile_index_path(n) for n in numbers
    ]
    assert [unb(e) for e in value(answers[-2])] == entries
    assert answers[-1]["error"] == "entry"


# --- the whole check, against the real server -----------------------------------------------


def log_path(slug: str, path: str) -> str:
    return f"/log/{slug}/{path}"


def served(slug: str, paths: list[str]) -> dict:
    """What the server answers at these paths under the log's prefix."""
    out = {}
    client = Client()
    for path in paths:
        response = client.get(log_path(slug, path))
        assert response.status_code == 200, (path, response.content)
        out[path] = b(response.content)
    return out


def status(receipt: str, since: int | None = None) -> dict:
    body = {"receipt": receipt} if since is None else {"receipt": receipt, "since": since}
    code, answer = post_json(Client(), "/api/v1/receipts/status", body)
    assert code == 200, answer
    return answer


def bundle_path(index: int, size: int) -> str:
    first = index // 256
    return tlog.tile_path("entries", first, min(256, size - first * 256))


def paths_for(log: dict) -> list[str]:
    """The latest checkpoint, the list of those since the proof's tree, and
    the entry bundle holding the signature: what the page fetches."""
    size = log["tree_size"]
    return ["checkpoint", f"checkpoints?after={size - 1}", bundle_path(log["index"], size)]


@pytest.fixture
def signed_letter(letter, attestation_ids):
    """The letter with 6 signatures through the API (each its own batch, the
    embedded default), the tokens and receipts, and the letter API's log."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=6)
    signed = []
    for i, code in enumerate(codes):
        api = SigningClient(Client(), letter.slug)
        token = api.token({"type": "invite_code", "code": code})
        code_status, body = api.sign(token, pseudonym=f"Signer {i}", attestations=attestation_ids)
        assert code_status == 201 and body["status"] == "counted", body
        signed.append((token, body["receipt"]))
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    return letter, signed, detail["log"]


def check(letter_log: dict, log: dict, serve: dict, kept=None) -> dict:
    options = {
        "origin": letter_log["origin"],
        "verifierKey": letter_log["verifier_key"],
        "log": log,
        "kept": kept,
        "served": serve,
    }
    return {"fn": "checkReceiptLog", "args": [options]}


@pytest.mark.django_db
def test_the_browser_check_passes_on_the_real_log_and_finds_the_signers_entry(signed_letter):
    letter, signed, letter_log = signed_letter
    cases = []
    for _token, receipt in signed:
        log = status(receipt)["log"]
        cases.append(check(letter_log, log, served(letter.slug, paths_for(log))))
    answers = run_js(cases)
    size = 7  # entry 0 is the letter
    note = Client().get(log_path(letter.slug, "checkpoint")).content.decode()
    root = note.split("\n")[2]
    for (token, _receipt), answer in zip(signed, answers, strict=True):
        result = value(answer)
        assert (result["size"], result["root"], result["grewFrom"]) == (size, root, None)
        # The entry the proof names is this signer's: it holds their token.
        assert result["entry"]["token"] == tlog.b64url(token.prepared)
        assert result["entry"]["signature"] == tlog.b64url(token.signature)


@pytest.mark.django_db
def test_the_browser_check_refuses_a_tampered_proof_checkpoint_or_entry(signed_letter):
    letter, signed, letter_log = signed_letter
    log = status(signed[2][1])["log"]
    good = served(letter.slug, paths_for(log))
    note = unb(good["checkpoint"]).decode()
    body, _, _signature = note.rpartition("\n\n")
    lines = body.split("\n")
    fake_root = base64.b64encode(Tree.of(7).root()).decode()
    forger = ed25519.Ed25519PrivateKey.generate()
    bundle_path = paths_for(log)[2]
    entries = tlog.parse_entry_bundle(unb(good[bundle_path]))
    position = log["index"] % 256
    altered = json.loads(entries[position])
    altered["fields_sha256"] = "0" * 64
    withdrawal = tlog.withdrawal_entry(token_sha256="0" * 64)

    def with_entry(entry: bytes) -> dict:
        changed = [*entries[:position], entry, *entries[position + 1 :]]
        return {**good, bundle_path: b(tlog.entry_bundle(changed))}

    def with_note(text: str) -> dict:
        return {**good, "checkpoint": {"text": text}}

    proof = [base64.b64decode(h) for h in log["proof"]]
    attacks = {
        "inclusion": [
            check(letter_log, {**log, "proof": hashes_b64([flip(proof[0]), *proof[1:]])}, good),
            check(letter_log, {**log, "proof": log["proof"][:-1]}, good),
            check(letter_log, {**log, "index": log["index"] - 1}, good),
            # Another entry put in its place: the leaf is not the proof's.
            check(letter_log, log, with_entry(tlog.canonical_json(altered))),
        ],
        "note": [
            # The root swapped under the log key's signature.
            check(letter_log, log, with_note(note.replace(lines[2], fake_root))),
            # A checkpoint signed by someone else's key under the log's name.
            check(
                letter_log,
                log,
                with_note(
                    tlog.sign_note(
                        tlog.checkpoint_body(lines[0], 7, Tree.of(7).root()),
                        name=lines[0],
                        private_key=forger,
                    )
                ),
            ),
        ],
        # A checkpoint of another log than the letter API names.
        "checkpoint": [
            check({**letter_log, "origin": "elsewhere.example/letters/x"}, log, good),
        ],
        "entry": [check(letter_log, log, with_entry(withdrawal))],
        "fetch": [check(letter_log, log, {"checkpoint": good["checkpoint"]})],
        "key-changed": [
            check(
                letter_log,
                log,
                good,
                kept={"size": 7, "root": lines[2], "verifierKey": verifier(forger, lines[0])},
            )
        ],
    }
    cases = [case for group in attacks.values() for case in group]
    codes = [code for code, group in attacks.items() for _case in group]
    answers = run_js([check(letter_log, log, good), *cases])
    value(answers[0])
    assert [a.get("error") for a in answers[1:]] == codes, answers


def hashes_b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode("ascii") for h in values]


@pytest.mark.django_db
def test_the_browser_check_finds_the_checkpoint_of_the_proofs_size(signed_letter, attestation_ids):
    """The status answer's tree can be older than the latest checkpoint
    (a batch sealed in between): the check takes the checkpoint of the
    proof's size from the list of every checkpoint, and verifies it too."""
    letter, signed, letter_log = signed_letter
    log = status(signed[0][1])["log"]
    serve = served(letter.slug, paths_for(log))
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    assert (
        api.sign(api.token({"type": "invite_code", "code": code}), attestations=attestation_ids)[0]
        == 201
    )
    newer = served(letter.slug, ["checkpoint"])
    listed = json.loads(unb(serve[f"checkpoints?after={log['tree_size'] - 1}"]))
    unsigned = [{**listed[0], "note": listed[0]["note"].rpartition("\n\n")[0] + "\n\n"}]
    answers = run_js(
        [
            check(letter_log, log, {**serve, **newer}),
            # The list offers no checkpoint of that size.
            check(
                letter_log,
                log,
                {**serve, **newer, f"checkpoints?after={log['tree_size'] - 1}": {"text": "[]"}},
            ),
            # It offers one whose signature is gone.
            check(
                letter_log,
                log,
                {
                    **serve,
                    **newer,
                    f"checkpoints?after={log['tree_size'] - 1}": {"text": json.dumps(unsigned)},
                },
            ),
        ]
    )
    assert value(answers[0])["size"] == log["tree_size"] == 7
    assert unb(newer["checkpoint"]).decode().split("\n")[1] == "8"
    assert [a.get("error") for a in answers[1:]] == ["size", "note"], answers


@pytest.mark.django_db
def test_the_browser_check_proves_the_log_only_grew_or_warns(signed_letter, attestation_ids):
    letter, signed, letter_log = signed_letter
    receipt = signed[0][1]
    first = status(receipt)["log"]
    first_note = unb(served(letter.slug, ["checkpoint"])["checkpoint"]).decode()
    kept = {
        "size": first["tree_size"],
        "root": first_note.split("\n")[2],
        "verifierKey": letter_log["verifier_key"],
    }
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=3)
    for code in codes:
        api = SigningClient(Client(), letter.slug)
        assert (
            api.sign(
                api.token({"type": "invite_code", "code": code}), attestations=attestation_ids
            )[0]
            == 201
        )
    grown = status(receipt, since=kept["size"])["log"]
    assert (kept["size"], grown["tree_size"]) == (7, 10)
    serve = served(letter.slug, paths_for(grown))

    # What the browser saw was rewritten: the log held another entry 3 then.
    entries = log_entries(letter, end=7)
    rewritten = Tree([*entries[:3], b'{"kind":"signature","forged":true}', *entries[4:]])
    assert Tree(entries).root() == base64.b64decode(kept["root"])
    rewritten_kept = {**kept, "root": base64.b64encode(rewritten.root()).decode()}
    # The server sends a consistency proof that does not hold.
    proof = [base64.b64decode(h) for h in grown["consistency"]]
    answers = run_js(
        [
            check(letter_log, grown, serve, kept=kept),
            check(letter_log, grown, serve, kept=rewritten_kept),
            check(
                letter_log,
                {**grown, "consistency": hashes_b64([flip(proof[0]), *proof[1:]])},
                serve,
                kept=kept,
            ),
            check(
                letter_log, {k: v for k, v in grown.items() if k != "consistency"}, serve, kept=kept
            ),
            check(letter_log, grown, serve, kept={**kept, "size": 11}),
            check(
                letter_log,
                status(receipt, since=10)["log"],
                serve,
                kept={**kept, "size": 10, "root": serve_root(serve)},
            ),
        ]
    )
    result = value(answers[0])
    assert (result["grewFrom"], result["size"]) == (7, 10)
    assert [a.get("error") for a in answers[1:5]] == [
        "consistency",
        "consistency",
        "consistency",
        "shrunk",
    ]
    assert answers[2]["details"] == {"from": 7, "to": 10}
    # The same checkpoint as last time: consistent, with no proof needed.
    assert value(answers[5])["grewFrom"] == 10


def serve_root(serve: dict) -> str:
    return unb(serve["checkpoint"]).decode().split("\n")[2]
