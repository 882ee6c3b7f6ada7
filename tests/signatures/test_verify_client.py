"""clients/verify.py, the standalone auditor, against a live test server:
an honest log passes and is counted; every attack on it fails with its
reason (a tampered tile or entry, a wrong or swapped key, history rewritten
with an entry dropped, a forged signature, a token spent twice, a withdrawal
of nothing, a token of another text); receipts are found with their
inclusion proof.

The receipt's `log` field (`{index, tree_size, proof}`) comes with the
batches (issue 15); until `POST /api/v1/receipts/status` gives it, these
tests add it to the answer from this log's own selectors.
"""

from __future__ import annotations

import ast
import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from signatures import log_selectors, tlog
from signatures.models import LetterLog, LogCheckpoint, LogEntry, LogTile
from signatures.services import receipts
from signatures.services.eligibility import invite_codes_create
from signatures.services.log import _append, log_append
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient
from tests.signatures.log_entries import (
    PSS,
    batch,
    signature_entries,
    signature_entry,
    signed_token,
    withdrawal_of,
)

VERIFY = Path(__file__).resolve().parents[2] / "clients" / "verify.py"


def run_verify(live_server, slug, tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(VERIFY),
            live_server.url,
            slug,
            "--pin-file",
            str(tmp_path / "pins.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )


def failed(result, reason: str) -> bool:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert reason in result.stderr, result.stderr
    return True


def test_it_imports_nothing_but_the_standard_library_and_cryptography():
    tree = ast.parse(VERIFY.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            pytest.fail("no dynamic imports")
    assert imported - sys.stdlib_module_names == {"cryptography"}, imported
    assert "importlib" not in imported


@pytest.fixture
def honest(transactional_db, roles, live_server):
    """A letter whose log holds 300 signatures and 7 withdrawals in three
    batches (two level-0 tiles, a level-1 tile)."""
    letter = open_letter(roles.campaign, slug="audited")
    first = signature_entries(letter, 100)
    log_append(letter=letter, entries=first)
    log_append(letter=letter, entries=signature_entries(letter, 150))
    log_append(
        letter=letter,
        entries=batch([*signature_entries(letter, 50), *map(withdrawal_of, first[10:17])]),
    )
    return letter


def test_an_honest_log_is_counted_and_its_key_pinned(honest, live_server, tmp_path):
    saved = tmp_path / "checkpoint.txt"
    result = run_verify(live_server, "audited", tmp_path, "--checkpoint", str(saved))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "count: 293"
    assert "signatures: 300, withdrawals: 7" in lines
    assert "checked: 308 entries, 3 tiles, 4 published checkpoints" in lines
    log = LetterLog.objects.get(letter=honest)
    assert f"key {log.verifier_key} (seen for the first time and pinned" in lines[0]
    pins = json.loads((tmp_path / "pins.json").read_text())
    assert pins == {f"{live_server.url}/letters/audited": log.verifier_key}
    assert saved.read_text() == log_selectors.latest_checkpoint(honest).note

    # The log grows; the next run uses the pinned key and checks the saved checkpoint.
    log_append(letter=honest, entries=signature_entries(honest, 3))
    result = run_verify(live_server, "audited", tmp_path, "--checkpoint", str(saved))
    assert result.returncode == 0, result.stderr
    assert "(pinned in" in result.stdout
    assert "consistent with the checkpoint of size 308" in result.stdout
    assert result.stdout.splitlines()[-1] == "count: 296"
    # With the key given, no pin is needed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_verify(live_server, "audited", elsewhere, "--key", log.verifier_key)
    assert result.returncode == 0, result.stderr
    assert not (elsewhere / "pins.json").exists()


def test_a_tampered_tile_fails(honest, live_server, tmp_path):
    tile = LogTile.objects.get(letter=honest, level=0, index=1)
    data = bytearray(tile.hashes)
    data[40] ^= 0x80
    tile.hashes = bytes(data)
    tile.save()
    assert failed(run_verify(live_server, "audited", tmp_path), "tile/0/001.p/52 is not the tile")


def test_a_tampered_entry_fails(honest, live_server, tmp_path):
    entry = LogEntry.objects.get(letter=honest, index=42)
    parsed = json.loads(bytes(entry.data))
    parsed["fields_sha256"] = "0" * 64
    entry.data = tlog.canonical_json(parsed)
    entry.save()
    assert failed(run_verify(live_server, "audited", tmp_path), "entries do not hash")


def test_a_wrong_or_swapped_key_fails(honest, live_server, tmp_path):
    log = LetterLog.objects.get(letter=honest)
    other = tlog.verifier_key(log.origin, secrets.token_bytes(32))
    result = run_verify(live_server, "audited", tmp_path, "--key", other)
    assert failed(result, "checkpoint carries no signature of the key")
    # Pinned on a first run, then the site announces (and signs with) another key.
    assert run_verify(live_server, "audited", tmp_path).returncode == 0
    LetterLog.objects.filter(letter=honest).update(public_key=secrets.token_bytes(32))
    assert failed(run_verify(live_server, "audited", tmp_path), "the site now announces")


def rewrite_history(letter, *, drop: int) -> None:
    """What an operator with the log's key could do: drop entry `drop`,
    rebuild every tile and re-sign new checkpoints over the rest."""
    entries = log_selectors.log_entries(letter)
    kept = entries[:drop] + entries[drop + 1 :]
    LogEntry.objects.filter(letter=letter).delete()
    LogTile.objects.filter(letter=letter).delete()
    LogCheckpoint.objects.filter(letter=letter).delete()
    log = LetterLog.objects.get(letter=letter)
    log.size = 0
    _append(log, kept[:1], signatures=0, withdrawals=0)
    _append(log, kept[1:], signatures=len(kept) - 1, withdrawals=0)


def test_a_dropped_entry_breaks_consistency_with_a_saved_checkpoint(honest, live_server, tmp_path):
    saved = tmp_path / "checkpoint.txt"
    assert run_verify(live_server, "audited", tmp_path, "--checkpoint", str(saved)).returncode == 0
    rewrite_history(honest, drop=5)
    # The rewritten log is consistent in itself: only the saved checkpoint shows it.
    assert run_verify(live_server, "audited", tmp_path).returncode == 0
    result = run_verify(live_server, "audited", tmp_path, "--checkpoint", str(saved))
    assert failed(result, "the log has 307 entries, fewer than the 308 saved")
    # And once new signatures have made it longer again:
    log_append(letter=honest, entries=signature_entries(honest, 4))
    assert run_verify(live_server, "audited", tmp_path).returncode == 0
    result = run_verify(live_server, "audited", tmp_path, "--checkpoint", str(saved))
    assert failed(result, "the checkpoint of size 308 is not a prefix of this log")
    assert saved.read_text() != log_selectors.latest_checkpoint(honest).note  # kept as it was


def test_a_published_checkpoint_left_behind_by_a_rewrite_fails(honest, live_server, tmp_path):
    old = list(LogCheckpoint.objects.filter(letter=honest, tree_size__in=[101, 251]))
    rewrite_history(honest, drop=200)  # new checkpoints: sizes 1 and 307
    for row in old:
        row.pk = None
    LogCheckpoint.objects.bulk_create(old)  # still listed, as first published
    result = run_verify(live_server, "audited", tmp_path)
    # Size 101 is before the dropped entry: still a prefix. Size 251 is not.
    assert failed(result, "the checkpoint of size 251 is not a prefix")


def test_a_forged_signature_fails(honest, live_server, tmp_path):
    prepared, _signature = signed_token(honest)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = tlog.signature_entry(
        token=prepared,
        signature=impostor.sign(prepared, PSS, hashes.SHA384()),
        fields_sha256="ab" * 32,
    )
    checkpoint = log_append(letter=honest, entries=[forged])
    result = run_verify(live_server, "audited", tmp_path)
    assert failed(result, f"entry {checkpoint.tree_size - 1}'s signature is not the issuer key's")


def test_a_token_spent_twice_fails(honest, live_server, tmp_path):
    again = log_selectors.log_entries(honest, start=3, end=4)[0]
    log_append(letter=honest, entries=[again])
    assert failed(run_verify(live_server, "audited", tmp_path), "spends the token of entry 3")


def test_a_withdrawal_naming_nothing_fails(honest, live_server, tmp_path):
    log_append(letter=honest, entries=[tlog.withdrawal_entry(token_sha256="12" * 32)])
    result = run_verify(live_server, "audited", tmp_path)
    assert failed(result, "withdraws a signature the log does not have")


def test_a_second_withdrawal_of_one_signature_fails(honest, live_server, tmp_path):
    withdrawn = log_selectors.log_entries(honest, start=101, end=102)[0]
    assert json.loads(withdrawn)["kind"] == "signature"
    log_append(letter=honest, entries=[withdrawal_of(withdrawn)])
    log_append(letter=honest, entries=[withdrawal_of(withdrawn)])
    assert failed(run_verify(live_server, "audited", tmp_path), "a second time")


def test_a_token_of_another_text_fails(honest, live_server, tmp_path):
    log_append(letter=honest, entries=[signature_entry(honest, text_sha256="ee" * 32)])
    result = run_verify(live_server, "audited", tmp_path)
    assert failed(result, "token that was not made for this letter")


def test_an_unreachable_site_is_not_a_verdict(tmp_path):
    result = subprocess.run(
        [sys.executable, str(VERIFY), "http://127.0.0.1:9", "x", "--pin-file", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "could not fetch" in result.stderr


# --- receipts -------------------------------------------------------------------------


def index_of_token(letter, token: bytes) -> int | None:
    """The index of the signature entry holding `token`, if the log has one."""
    wanted = tlog.b64url(token)
    for index, entry in enumerate(log_selectors.log_entries(letter)):
        if json.loads(entry).get("token") == wanted:
            return index
    return None


@pytest.fixture
def signed_receipt(honest):
    """A real signature through the API, at index 312 of a log of 313: the
    embedded default seals it at once into the log, and its receipt's
    status carries `log`."""
    log_append(letter=honest, entries=signature_entries(honest, 4))
    signer = SigningClient(Client(), "audited")
    (code,) = invite_codes_create(actor=None, campaign=honest.campaign, count=1)
    token = signer.token({"type": "invite_code", "code": code})
    status, body = signer.sign(token)
    assert status == 201 and body["status"] == "counted", body
    index = index_of_token(honest, token.prepared)
    assert index is not None
    entry = log_selectors.log_entries(honest, start=index, end=index + 1)[0]
    assert receipts.receipt_status(receipt=body["receipt"])["log"]["index"] == index
    return body["receipt"], entry, index


def test_a_receipt_is_found_with_its_inclusion_proof(honest, signed_receipt, live_server, tmp_path):
    receipt, entry, index = signed_receipt
    result = run_verify(live_server, "audited", tmp_path, "--receipt", receipt)
    assert result.returncode == 0, result.stderr
    assert f"receipt: entry {index}, included in the log at size 313 (counted)" in result.stdout
    log_append(letter=honest, entries=[withdrawal_of(entry)])
    result = run_verify(live_server, "audited", tmp_path, "--receipt", receipt)
    assert "at size 314 (withdrawn since)" in result.stdout, result.stderr


def test_a_receipt_with_a_forged_proof_fails(signed_receipt, live_server, tmp_path, monkeypatch):
    receipt, _entry, _index = signed_receipt
    honest_status = receipts.receipt_status

    def forged(**kwargs):
        answer = honest_status(**kwargs)
        answer["log"]["proof"][0] = base64.b64encode(bytes(32)).decode()
        return answer

    monkeypatch.setattr(receipts, "receipt_status", forged)
    result = run_verify(live_server, "audited", tmp_path, "--receipt", receipt)
    assert failed(result, "inclusion proof does not lead to the root")


def test_a_pending_receipt_says_so(honest, live_server, tmp_path, settings):
    # The production configuration: the signature waits for its batch.
    settings.SIGNATURE_BATCHES = "scheduled"
    signer = SigningClient(Client(), "audited")
    (code,) = invite_codes_create(actor=None, campaign=honest.campaign, count=1)
    status, body = signer.sign(signer.token({"type": "invite_code", "code": code}))
    assert status == 201 and body["status"] == "pending", body
    result = run_verify(live_server, "audited", tmp_path, "--receipt", body["receipt"])
    assert result.returncode == 3 and "pending and not in the log yet" in result.stderr
