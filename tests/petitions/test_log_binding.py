"""The export binds the letter's transparency log (issue 15): the PDF and the
manifest carry the checkpoint and the verifier key, the signature list is
exactly the log's at that size, a disagreement refuses the export, and
exports of manifest format 1 (made before this change) verify as before."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from letters.models import LetterState, Visibility
from petitions import openpgp, services
from petitions.binding import LogNotBound
from petitions.manifest import build_manifest, manifest_ids
from petitions.models import Export, ExportStatus
from petitions.services import export_file
from signatures import tlog
from signatures.log_selectors import latest_checkpoint
from signatures.models import LetterLog, LogCheckpoint, LogEntry, PendingSignature, Signature
from signatures.services.batches import batch_seal
from signatures.services.receipts import receipt_status
from tests.petitions.conftest import pdftotext, run_export
from tests.petitions.factories import make_letter, make_pending, make_signatures, receipt_for
from tests.petitions.log_audit import Unverified, check_manifest, fetch_entries, token_sha256

pytestmark = pytest.mark.django_db


def manifest_of(export) -> bytes:
    return export_file(export, "manifest.json").read_bytes()


def with_manifest(data: bytes, change) -> bytes:
    manifest = json.loads(data)
    change(manifest)
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- a format 2 export and its checkpoint ---------------------------------------------


def test_the_export_binds_the_latest_checkpoint_and_it_verifies(client, exported, letter):
    log = LetterLog.objects.get(letter=letter)
    checkpoint = latest_checkpoint(letter)
    # 43 signatures and one withdrawal after entry 0.
    assert checkpoint.tree_size == 45 and checkpoint.count == 42
    assert exported.manifest_format == 2
    assert exported.log_tree_size == checkpoint.tree_size
    assert exported.log_checkpoint == checkpoint.note
    assert exported.log_verifier_key == log.verifier_key
    data = manifest_of(exported)
    manifest = json.loads(data)
    assert manifest["checkpoint"] == checkpoint.note
    assert manifest["verifier_key"] == log.verifier_key
    assert export_file(exported, "checkpoint.txt").read_text() == checkpoint.note
    assert client.get(f"/log/{letter.slug}/checkpoint").content.decode() == checkpoint.note

    # The auditor's check: the note's signature, the root of the entries
    # served over HTTP, the log indexes against the counted entries.
    entries = fetch_entries(client, letter.slug, checkpoint.tree_size)
    by_index = check_manifest(data, verifier_key=log.verifier_key, entries=entries)
    assert len(by_index) == exported.count == 42
    rows = {str(r.pk): r for r in Signature.objects.filter(letter=letter)}
    for index, item in by_index.items():
        row = rows[item["id"]]
        assert row.log_index == index and not row.withdrawn
        assert token_sha256(json.loads(entries[index])) == row.token_hash
        assert item["pseudonym"] == row.pseudonym
    withdrawn = Signature.objects.get(letter=letter, withdrawn=True)
    assert str(withdrawn.pk) not in manifest_ids(data)
    assert json.loads(entries[withdrawn.log_index])["kind"] == "signature"
    assert any(
        json.loads(e) == {"kind": "withdrawal", "token_sha256": withdrawn.token_hash}
        for e in entries
    )


def test_a_tampered_manifest_or_checkpoint_fails(
    client, exported, letter, campaign_key, gpg_verify
):
    verifier_key = exported.log_verifier_key
    data = manifest_of(exported)
    entries = fetch_entries(client, letter.slug, exported.log_tree_size)
    check_manifest(data, verifier_key=verifier_key, entries=entries)
    asc = export_file(exported, "manifest.json.asc").read_text()
    withdrawn_index = Signature.objects.get(letter=letter, withdrawn=True).log_index
    note = exported.log_checkpoint
    body, _, signature_line = note.partition("\n\n")
    origin, size, root = tlog.parse_checkpoint(body + "\n")
    forger = ed25519.Ed25519PrivateKey.generate()
    forged_note = tlog.sign_note(
        tlog.checkpoint_body(origin, size, b"\0" * 32), name=origin, private_key=forger
    )

    def drop_one(m):
        m["signatures"].pop()

    def withdrawn_instead(m):
        m["signatures"][0]["log_index"] = withdrawn_index

    def letter_entry_added(m):
        m["signatures"].append({**m["signatures"][0], "id": str(uuid.uuid4()), "log_index": 0})

    def smaller_tree(m):
        m["checkpoint"] = note.replace(f"\n{size}\n", f"\n{size - 1}\n", 1)

    def other_root(m):
        m["checkpoint"] = note.replace(body.split("\n")[2], "A" * 43 + "=", 1)

    def forged_log_key(m):
        m["checkpoint"] = forged_note
        m["verifier_key"] = tlog.verifier_key(origin, tlog.public_key_bytes(forger))

    tampered = {
        drop_one: "missing from the manifest",
        withdrawn_instead: "not counted in the log",
        letter_entry_added: "not counted in the log",
        smaller_tree: "does not verify",
        other_root: "does not verify",
        forged_log_key: "another verifier key",
    }
    for change, reason in tampered.items():
        changed = with_manifest(data, change)
        assert changed != data
        with pytest.raises(Unverified, match=reason):
            check_manifest(changed, verifier_key=verifier_key, entries=entries)
        # Nor does it pass the manifest hash printed in the PDF, or its signature.
        assert hashlib.sha256(changed).hexdigest() != exported.manifest_sha256
        ok, output = gpg_verify(campaign_key.public_key, asc, changed)
        assert not ok, (change.__name__, output)
    # A checkpoint file changed by one byte does not open with the key.
    with pytest.raises(tlog.NoteVerificationFailed):
        tlog.open_note(note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1), verifier_key)
    with pytest.raises(tlog.NoteVerificationFailed):
        tlog.open_note(forged_note, verifier_key)
    assert signature_line  # the note is signed
    # A log that lost or changed an entry does not hash to the checkpoint.
    with pytest.raises(Unverified, match="checkpoint's root"):
        check_manifest(data, verifier_key=verifier_key, entries=entries[:-1] + [entries[1]])


def test_the_pdf_carries_the_checkpoint_the_key_and_the_command(exported, letter):
    text = pdftotext(export_file(exported, "petition.pdf").read_bytes())
    flat = "".join(text.split())
    for line in exported.log_checkpoint.splitlines():
        assert "".join(line.split()) in flat, line
    assert exported.log_verifier_key in flat
    assert "the transparency log this export binds" in " ".join(text.split())
    assert "checkpoint of size 45" in " ".join(text.split())
    command = services.log_audit_command(exported, verifier_key=exported.log_verifier_key)
    assert command.startswith("python3 clients/verify.py http")
    assert f" {letter.slug} --key {exported.log_verifier_key} --checkpoint " in command
    assert command.endswith(f"{letter.slug}-{str(exported.pk)[:8]}-checkpoint.txt")
    assert "".join(command.split()) in flat


def test_the_verification_pages_say_which_checkpoint_it_binds(client, roles, exported):
    slug = roles.campaign.slug
    page = client.get(reverse("petitions:verify_export", args=[slug, exported.pk]))
    body = page.content.decode()
    assert "binds the checkpoint of size 45" in body
    assert exported.log_verifier_key in body
    assert exported.log_checkpoint in body
    command = services.log_audit_command(exported, verifier_key=exported.log_verifier_key)
    assert command in body
    download = reverse("petitions:public_download", args=[slug, exported.pk, "checkpoint.txt"])
    assert f'href="{download}"' in body
    response = client.get(download)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).decode() == exported.log_checkpoint
    result = client.post(reverse("petitions:verify", args=[slug]), {"sha256": exported.pdf_sha256})
    assert "binds the log's checkpoint of size 45" in result.content.decode()


def test_the_command_of_an_unlisted_letter_carries_neither_its_address_nor_its_link_key(
    roles, campaign_key, django_capture_on_commit_callbacks
):
    letter = make_letter(
        roles.campaign, slug="quiet-one-tok", visibility=Visibility.UNLISTED, unlisted_token="tok"
    )
    make_signatures(letter, 2)
    export, _ = run_export(django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter)
    assert export.status == "done", export.error
    command = services.log_audit_command(export, verifier_key=export.log_verifier_key)
    # Handed to leadership in the PDF: the secret is asked of the organizers.
    assert "tok" not in command.replace(export.log_verifier_key, "")
    assert "--link-key '<its link key, from the organizers>'" in command
    assert "/letters/quiet-one+" in export.log_verifier_key


# --- refusals -------------------------------------------------------------------------


def test_a_closed_letter_with_signatures_waiting_is_sealed_before_its_export(
    roles, campaign_key, letter, django_capture_on_commit_callbacks
):
    # Accepted as the letter closed: it would wait for the next seal (beat,
    # within a minute); starting the export seals what is due first, so the
    # export is the log's whole list.
    make_pending(letter, {900: {}})
    export, created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert created and export.status == "done", export.error
    assert not PendingSignature.objects.filter(letter=letter).exists()
    assert (export.count, export.log_tree_size) == (43, 46)


def test_an_open_letter_exports_what_its_log_holds(
    roles, campaign_key, settings, django_capture_on_commit_callbacks
):
    settings.SIGNATURE_BATCHES = "scheduled"
    letter = make_letter(roles.campaign, slug="still-open", state=LetterState.OPEN)
    make_signatures(letter, 6)
    make_pending(letter, {100: {"pseudonym": "waiting-one"}})  # not sealed yet
    export, _ = run_export(django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter)
    assert export.status == "done", export.error
    assert (export.count, export.log_tree_size) == (6, 7)
    assert "waiting-one" not in manifest_of(export).decode()
    batch_seal(letter=letter, force=True)
    newer, created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert created and (newer.count, newer.log_tree_size) == (7, 8)
    assert "waiting-one" in manifest_of(newer).decode()


def _unlogged_row(letter):
    Signature.objects.create(
        letter=letter, token_hash="a" * 64, receipt_hash="b" * 64, pseudonym="Ghost"
    )


def _logged_ghost(letter):
    # Claims the withdrawn signature's entry: counted here, not in the log.
    withdrawn = Signature.objects.get(letter=letter, withdrawn=True)
    Signature.objects.create(
        letter=letter,
        token_hash=withdrawn.token_hash[::-1],
        receipt_hash="b" * 64,
        pseudonym="Ghost",
        log_index=withdrawn.log_index,
    )


def _withdrawn_behind_the_log(letter):
    Signature.objects.filter(letter=letter, pseudonym="pseudo00001").update(withdrawn=True)


def _deleted_row(letter):
    Signature.objects.filter(letter=letter, pseudonym="pseudo00002").delete()


def _moved_index(letter):
    row = Signature.objects.get(letter=letter, pseudonym="pseudo00003")
    Signature.objects.filter(pk=row.pk).update(log_index=row.log_index + 1)


def _changed_entry(letter):
    entry = LogEntry.objects.get(letter=letter, index=5)
    LogEntry.objects.filter(pk=entry.pk).update(data=bytes(entry.data) + b" ")


def _deleted_entry(letter):
    LogEntry.objects.filter(letter=letter, index=7).delete()


def _checkpoint_of_another_key(letter):
    checkpoint = latest_checkpoint(letter)
    origin, size, root = tlog.parse_checkpoint(checkpoint.note.partition("\n\n")[0] + "\n")
    note = tlog.sign_note(
        tlog.checkpoint_body(origin, size, root),
        name=origin,
        private_key=ed25519.Ed25519PrivateKey.generate(),
    )
    LogCheckpoint.objects.filter(pk=checkpoint.pk).update(note=note)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_unlogged_row, "collected before the letter had a transparency log"),
        (_logged_ghost, "disagree"),
        (_withdrawn_behind_the_log, "disagree"),
        (_deleted_row, "disagree"),
        (_moved_index, "disagree"),
        (_changed_entry, "disagree"),
        (_deleted_entry, "disagree"),
        (_checkpoint_of_another_key, "disagree"),
    ],
)
def test_rows_and_log_that_disagree_refuse_the_export(
    tamper, reason, roles, campaign_key, letter, caplog
):
    tamper(letter)
    with caplog.at_level(logging.ERROR, logger="petitions.binding"):
        with pytest.raises(LogNotBound, match=reason):
            services.export_start(actor=roles.delegate, letter=letter)
    assert not Export.objects.exists()
    if reason == "disagree":
        assert "log and rows disagree" in caplog.text
        assert "Ghost" not in caplog.text and "pseudo0000" not in caplog.text


def test_a_disagreement_found_at_render_fails_the_export_clearly(roles, campaign_key, letter):
    export, created = services.export_start(actor=roles.delegate, letter=letter, enqueue=False)
    assert created
    _withdrawn_behind_the_log(letter)
    assert services.export_render(export.pk) == "failed"
    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert "transparency log disagree" in export.error
    assert not export.directory.exists()


# --- format 1: letters without a log, and exports made before this change -------------

# What the code before this change wrote for one signature (format 1), byte
# for byte: a JSON array, keys sorted, no log index, no checkpoint.
V1_MANIFEST = (
    '[{"department":"","hour":"2024-05-06T07:00Z","id":"00000000-0000-0000-0000-000000000001",'
    '"location":"","name":"Ann Lée","pseudonym":"Golden 0"}]'
).encode()


def test_a_letter_without_a_log_is_exported_in_format_1_as_before(
    client, roles, campaign_key, django_capture_on_commit_callbacks
):
    import datetime as dt

    letter = make_letter(roles.campaign, slug="before-logs", logged=False)
    Signature.objects.create(
        id=uuid.UUID(int=1),
        letter=letter,
        token_hash="0" * 64,
        receipt_hash=hashlib.sha256(receipt_for(1).encode()).hexdigest(),
        pseudonym="Golden 0",
        public_name="Ann Lée",
        signed_hour=dt.datetime(2024, 5, 6, 7, tzinfo=dt.UTC),
    )
    assert build_manifest(letter).data == V1_MANIFEST
    export, _ = run_export(django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter)
    assert export.status == "done", export.error
    assert manifest_of(export) == V1_MANIFEST
    assert export.manifest_sha256 == hashlib.sha256(V1_MANIFEST).hexdigest()
    assert (export.manifest_format, export.log_tree_size, export.log_checkpoint) == (1, None, "")
    assert not (export.directory / "checkpoint.txt").exists()
    text = " ".join(pdftotext(export_file(export, "petition.pdf").read_bytes()).split())
    assert "transparency log" not in text
    page = client.get(reverse("petitions:verify_export", args=[roles.campaign.slug, export.pk]))
    assert "This export binds no transparency log" in page.content.decode()
    assert "checkpoint.txt" not in page.content.decode()


def test_an_export_made_before_this_change_still_verifies(
    client, roles, campaign_key, letter, gpg_verify
):
    """A finished export as the old code left it, of a letter that has a log
    since: format 1 manifest, no log fields, no checkpoint file."""
    signature = Signature.objects.filter(letter=letter, withdrawn=False).first()
    manifest = V1_MANIFEST.replace(
        b"00000000-0000-0000-0000-000000000001", str(signature.pk).encode()
    )
    keyring = openpgp.Keyring()
    pdf = b"%PDF-1.7\nan old export\n%%EOF\n"
    export = Export.objects.create(
        letter=letter,
        state_key="1" * 64,
        status=ExportStatus.DONE,
        progress=100,
        count=1,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        pdf_signature=keyring.sign_detached(pdf, fingerprint=campaign_key.fingerprint),
        manifest_signature=keyring.sign_detached(manifest, fingerprint=campaign_key.fingerprint),
        openpgp_fingerprint=campaign_key.fingerprint,
    )
    export.directory.mkdir(parents=True)
    (export.directory / "manifest.json").write_bytes(manifest)
    (export.directory / "manifest.json.asc").write_text(export.manifest_signature)
    (export.directory / "petition.pdf").write_bytes(pdf)
    (export.directory / "petition.pdf.asc").write_text(export.pdf_signature)
    assert export.manifest_format == 1

    slug = roles.campaign.slug
    result = client.post(
        reverse("petitions:verify", args=[slug]),
        {"pdf": SimpleUploadedFile("p.pdf", pdf, "application/pdf")},
    ).content.decode()
    assert "Yes: this is an export of this campaign." in result
    assert "verifies with the campaign key" in result
    assert "binds no log (an export of manifest format 1)" in result
    page = client.get(reverse("petitions:verify_export", args=[slug, export.pk])).content.decode()
    assert "This export binds no transparency log" in page and export.manifest_sha256 in page
    served = client.get(
        reverse("petitions:public_download", args=[slug, export.pk, "manifest.json"])
    )
    data = b"".join(served.streaming_content)
    assert data == manifest and hashlib.sha256(data).hexdigest() == export.manifest_sha256
    ok, output = gpg_verify(campaign_key.public_key, export.manifest_signature, data)
    assert ok, output
    assert (
        client.get(
            reverse("petitions:public_download", args=[slug, export.pk, "checkpoint.txt"])
        ).status_code
        == 404
    )
    # A signer's receipt still finds the signature in it.
    url = reverse("petitions:verify_export", args=[slug, export.pk])
    index = int(signature.pseudonym.removeprefix("pseudo"))
    assert (
        "Yes: the signature" in client.post(url, {"receipt": receipt_for(index)}).content.decode()
    )
    listed = receipt_status(receipt=receipt_for(index))["exports"]
    assert str(export.pk) in [e["id"] for e in listed]
    assert PendingSignature.objects.count() == 0
