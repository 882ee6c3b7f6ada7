"""Batches: a signature is accepted at once, written (and counted, and logged)
when its batch is sealed (signatures/services/batches.py).

Receipts' inclusion proofs are checked here with an RFC 9162 verifier written
in this file, not the project's own tlog module.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from letters.models import LetterState
from letters.services import letter_close
from signatures.models import PendingSignature, PendingWithdrawal, Signature, SignatureBatch
from signatures.selectors import letter_figures
from signatures.services.batches import batches_seal_due
from tests.signatures.helpers import SigningClient, post_json, sign_with_invites

pytestmark = pytest.mark.django_db


# --- an independent RFC 6962 / RFC 9162 verifier ----------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162, 2.1.3.2."""
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        assert sn != 0, "proof too long"
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0, "proof too short"
    return r


def consistent(first: int, second: int, first_root: bytes, second_root: bytes, proof) -> bool:
    """RFC 9162, 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:  # a power of two: the old root is a node
        proof = [first_root, *proof]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def expected_entry(token, signature: Signature) -> bytes:
    """The log entry of `signature`, rebuilt from what the signer sent and
    its stored salt (docs/signing-protocol.md, "Entries"): each field hashed
    with its own salt, then the object of those hashes."""
    values = {
        "attestations": sorted(signature.attestations),
        "comment": signature.comment,
        "department": signature.department,
        "location": signature.location,
        "pseudonym": signature.pseudonym,
        "public_name": signature.public_name,
        "reveal_at": signature.reveal_at,
    }
    hashes = {}
    for name, value in values.items():
        one_salt = hashlib.sha256(f"{signature.salt}\n{name}".encode()).hexdigest()[:32]
        hashes[name] = hashlib.sha256(canonical([one_salt, name, value])).hexdigest()
    return canonical(
        {
            "kind": "signature",
            "token": b64url(token.prepared),
            "signature": b64url(token.signature),
            "fields_sha256": hashlib.sha256(canonical(hashes)).hexdigest(),
        }
    )


def entry_from_public_row(row: dict, token) -> bool:
    """The log entry rebuilt from what the public list shows of a signature
    and its commitment (and the token, which the log entry itself holds)."""
    hashes = dict(row["commitment"]["hashes"])
    for name, one_salt in row["commitment"]["salts"].items():
        hashes[name] = hashlib.sha256(canonical([one_salt, name, row[name] or ""])).hexdigest()
    entry = canonical(
        {
            "kind": "signature",
            "token": b64url(token.prepared),
            "signature": b64url(token.signature),
            "fields_sha256": hashlib.sha256(canonical(hashes)).hexdigest(),
        }
    )
    return entry


def checkpoint_root(client, slug: str) -> tuple[int, bytes]:
    response = client.get(f"/log/{slug}/checkpoint")
    assert response.status_code == 200
    _origin, size, root = response.content.decode().split("\n")[:3]
    return int(size), base64.b64decode(root)


# --- helpers -------------------------------------------------------------------------


def receipt_status(receipt: str) -> dict:
    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert status == 200, body
    return body


# --- the embedded default: a batch of one -----------------------------------------------


def test_at_once_each_signature_is_counted_and_logged_as_it_arrives(letter, attestation_ids):
    ((token, body),) = sign_with_invites(letter, attestation_ids, 1, department="Legal")
    assert body["status"] == "counted"
    assert not PendingSignature.objects.exists()
    signature = Signature.objects.get(letter=letter)
    assert signature.log_index == 1  # entry 0 is the letter
    status = receipt_status(body["receipt"])
    assert status["status"] == "counted"
    size, root = checkpoint_root(Client(), letter.slug)
    assert status["log"]["tree_size"] == size == 2
    proof = [base64.b64decode(h) for h in status["log"]["proof"]]
    leaf = leaf_hash(expected_entry(token, signature))
    assert root_from_inclusion(signature.log_index, size, leaf, proof) == root


# --- scheduled batches -------------------------------------------------------------------


def test_a_signature_waits_for_its_batch_and_is_not_counted_before(scheduled, attestation_ids):
    letter = scheduled
    signed = sign_with_invites(letter, attestation_ids, 2)
    assert [body["status"] for _t, body in signed] == ["pending", "pending"]
    assert not Signature.objects.exists()
    assert PendingSignature.objects.count() == 2
    assert letter_figures(letter, use_cache=False).count == 0
    status = receipt_status(signed[0][1]["receipt"])
    assert status["status"] == "pending" and "log" not in status
    assert status["next_batch_within_minutes"] == 0  # no batch yet: as soon as it is full

    # Two of three: not due.
    assert batches_seal_due() == []
    signed += sign_with_invites(letter, attestation_ids, 1)
    (batch,) = batches_seal_due()
    assert (batch.signatures, batch.withdrawals, batch.tree_size) == (3, 0, 4)
    assert not PendingSignature.objects.exists()
    rows = list(Signature.objects.filter(letter=letter))
    assert len(rows) == 3
    # One hour for the whole batch, whatever the arrival times.
    assert len({row.signed_hour for row in rows}) == 1
    assert sorted(row.log_index for row in rows) == [1, 2, 3]
    # Within the batch, entries follow the token hash, not the arrival.
    by_index = sorted(rows, key=lambda row: row.log_index)
    assert [row.token_hash for row in by_index] == sorted(row.token_hash for row in rows)
    assert letter_figures(letter, use_cache=False).count == 3

    size, root = checkpoint_root(Client(), letter.slug)
    for token, body in signed:
        status = receipt_status(body["receipt"])
        signature = Signature.objects.get(
            receipt_hash=hashlib.sha256(body["receipt"].encode()).hexdigest()
        )
        proof = [base64.b64decode(h) for h in status["log"]["proof"]]
        leaf = leaf_hash(expected_entry(token, signature))
        assert root_from_inclusion(status["log"]["index"], size, leaf, proof) == root


def test_a_token_waiting_for_its_batch_is_already_spent(scheduled, attestation_ids):
    letter = scheduled
    ((token, _body),) = sign_with_invites(letter, attestation_ids, 1)
    api = SigningClient(Client(), letter.slug)
    status, body = api.sign(token, pseudonym="Again", attestations=attestation_ids)
    assert (status, body["error"]) == (409, "already_spent")
    batches_seal_due(force=True)
    status, body = api.sign(token, pseudonym="Again", attestations=attestation_ids)
    assert (status, body["error"]) == (409, "already_spent")
    assert Signature.objects.count() == 1


def test_batches_keep_their_interval(scheduled, attestation_ids):
    letter = scheduled
    sign_with_invites(letter, attestation_ids, 3)
    now = timezone.now()
    assert len(batches_seal_due(now=now)) == 1
    sign_with_invites(letter, attestation_ids, 3)
    assert batches_seal_due(now=now + timedelta(minutes=14)) == []
    (batch,) = batches_seal_due(now=now + timedelta(minutes=15))
    assert batch.signatures == 3
    assert SignatureBatch.objects.filter(letter=letter).count() == 2


def test_a_race_that_spent_a_token_twice_is_dropped_at_the_seal(scheduled, attestation_ids):
    """The seal's safeguard: a waiting twin of a sealed token (which the
    seal's hold on the waiting tables keeps redemption from making; see
    test_batch_attacks.py) is dropped by the next seal."""
    letter = scheduled
    sign_with_invites(letter, attestation_ids, 3)
    first = PendingSignature.objects.first()
    batches_seal_due()
    twin = PendingSignature(
        letter_id=letter.pk,
        token_hash=first.token_hash,
        token=first.token,
        signature=first.signature,
        receipt_hash="0" * 64,
        pseudonym="Twin",
    )
    twin.save()
    (batch,) = batches_seal_due(force=True)
    assert batch.signatures == 0
    assert Signature.objects.filter(token_hash=first.token_hash).count() == 1
    assert not PendingSignature.objects.exists()


def test_closing_the_letter_seals_whatever_waits(scheduled, attestation_ids, roles):
    letter = scheduled
    sign_with_invites(letter, attestation_ids, 1)
    letter_close(actor=roles.organizer, letter=letter)
    assert letter.state == LetterState.CLOSED
    assert not PendingSignature.objects.exists()
    assert Signature.objects.filter(letter=letter).count() == 1


def test_a_letter_past_its_deadline_is_sealed_by_the_next_run(scheduled, attestation_ids):
    letter = scheduled
    sign_with_invites(letter, attestation_ids, 1)
    letter.deadline = timezone.now() - timedelta(minutes=1)
    letter.save()
    (batch,) = batches_seal_due()
    assert batch.signatures == 1


# --- withdrawals wait too -----------------------------------------------------------------


def test_a_withdrawal_waits_for_the_next_batch(scheduled, attestation_ids):
    letter = scheduled
    signed = sign_with_invites(letter, attestation_ids, 3)
    batches_seal_due()
    receipt = signed[0][1]["receipt"]
    status, body = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": receipt})
    assert status == 200 and body["status"] == "counted" and body["withdrawal_pending"]
    assert body["can_withdraw"] is False
    assert letter_figures(letter, use_cache=False).count == 3
    (batch,) = batches_seal_due(force=True)
    assert (batch.signatures, batch.withdrawals) == (0, 1)
    assert receipt_status(receipt)["status"] == "withdrawn"
    assert letter_figures(letter, use_cache=False).count == 2
    assert not PendingWithdrawal.objects.exists()


def test_a_signature_withdrawn_before_its_batch_is_logged_then_withdrawn(
    scheduled, attestation_ids
):
    letter = scheduled
    ((token, body),) = sign_with_invites(letter, attestation_ids, 1)
    status, answer = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": body["receipt"]})
    assert status == 200 and answer["status"] == "pending" and answer["withdrawal_pending"]
    (batch,) = batches_seal_due(force=True)
    assert (batch.signatures, batch.withdrawals, batch.tree_size) == (1, 1, 3)
    assert receipt_status(body["receipt"])["status"] == "withdrawn"
    assert letter_figures(letter, use_cache=False).count == 0
    # The token stays spent.
    status, again = SigningClient(Client(), letter.slug).sign(
        token, pseudonym="Again", attestations=attestation_ids
    )
    assert (status, again["error"]) == (409, "already_spent")


# --- the command and the beat task ---------------------------------------------------------


def test_seal_batches_command_says_what_it_exposes(scheduled, attestation_ids, capsys):
    letter = scheduled
    sign_with_invites(letter, attestation_ids, 1)
    call_command("seal_batches")
    assert "Nothing was due (1 signature(s) waiting" in capsys.readouterr().out
    call_command("seal_batches", letter.slug, "--now")
    out = capsys.readouterr().out
    assert f"{letter.slug}: sealed 1 signature(s)" in out
    assert "exposed a batch of 1 where the campaign asks for at least 3" in out


def test_seal_batches_command_refuses_an_unknown_letter():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No letter"):
        call_command("seal_batches", "no-such-letter")


def test_beat_seals_every_minute(scheduled, attestation_ids, settings):
    from signatures.tasks import seal_batches

    schedule = settings.CELERY_BEAT_SCHEDULE["signatures-seal-batches"]
    assert schedule == {"task": "signatures.seal_batches", "schedule": 60.0}
    sign_with_invites(scheduled, attestation_ids, 3)
    assert seal_batches.delay().get() == 1
    assert Signature.objects.count() == 3


def test_the_close_button_says_that_closing_seals_what_waits(scheduled, client_for, roles):
    from django.urls import reverse

    page = client_for(roles.organizer).get(
        reverse("letters:manage_detail", args=[scheduled.campaign.slug, scheduled.pk])
    )
    assert page.status_code == 200
    assert "Closing counts every signature that still waits for its batch" in page.content.decode()


def test_a_receipt_proves_the_log_grew_from_a_checkpoint_seen_before(letter, attestation_ids):
    signed = sign_with_invites(letter, attestation_ids, 3)
    old_size, old_root = checkpoint_root(Client(), letter.slug)
    sign_with_invites(letter, attestation_ids, 6)
    new_size, new_root = checkpoint_root(Client(), letter.slug)
    assert (old_size, new_size) == (4, 10)
    receipt = signed[0][1]["receipt"]
    status, body = post_json(
        Client(), "/api/v1/receipts/status", {"receipt": receipt, "since": old_size}
    )
    assert status == 200
    proof = [base64.b64decode(h) for h in body["log"]["consistency"]]
    assert consistent(old_size, new_size, old_root, new_root, proof)
    # A forged old root does not pass: the check has teeth.
    assert not consistent(old_size, new_size, b"\x00" * 32, new_root, proof)
    for since in (0, -1, True, "4", new_size + 1):
        status, body = post_json(
            Client(), "/api/v1/receipts/status", {"receipt": receipt, "since": since}
        )
        assert status == 400 and body["error"] == "bad_request", since


def test_the_public_list_lets_anyone_check_the_shown_fields_against_the_log(
    letter, attestation_ids
):
    """Shown fields open with their own salt; hidden ones (a name before its
    threshold, a group under k) stay hashes that a guess cannot open."""
    ((token, _body),) = sign_with_invites(
        letter,
        attestation_ids,
        1,
        public_name="Ann Lee",
        reveal_at=50,
        department="Legal",
        comment="Enough.",
    )
    listed = Client().get(f"/api/v1/letters/{letter.slug}/signatures").json()
    (row,) = listed["results"]
    assert row["public_name"] is None and row["department"] is None  # hidden (k, reveal_at)
    assert set(row["commitment"]["salts"]) == {"pseudonym", "comment", "location"}
    assert {"public_name", "department"} <= set(row["commitment"]["hashes"])
    entries = Client().get(f"/log/{letter.slug}/tile/entries/000.p/2")
    assert entries.status_code == 200
    bundle = entries.content
    logged = []
    while bundle:
        length = int.from_bytes(bundle[:2], "big")
        logged.append(bundle[2 : 2 + length])
        bundle = bundle[2 + length :]
    assert logged[row["log_index"]] == entry_from_public_row(row, token)
    # A forged comment does not match the log.
    assert logged[row["log_index"]] != entry_from_public_row({**row, "comment": "Forged."}, token)
