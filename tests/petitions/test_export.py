"""The export job, the PDF, the signatures on it, verification and delivery."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
from celery import current_app
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from letters.models import LetterState
from organizing.models import AuditEntry
from petitions import services, tasks
from petitions.models import Export, ExportStatus, ImmutableExport
from petitions.services import export_file
from tests.petitions.conftest import pdftotext, run_export
from tests.petitions.factories import make_letter, make_signatures, receipt_for


def tamper(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


def test_both_detached_signatures_verify_with_real_gpg(exported, campaign_key, gpg_verify):
    pdf = export_file(exported, "petition.pdf").read_bytes()
    manifest = export_file(exported, "manifest.json").read_bytes()
    pdf_asc = export_file(exported, "petition.pdf.asc").read_text()
    manifest_asc = export_file(exported, "manifest.json.asc").read_text()
    ok, output = gpg_verify(campaign_key.public_key, pdf_asc, pdf)
    assert ok, output
    assert f"VALIDSIG {campaign_key.fingerprint}" in output
    ok, output = gpg_verify(campaign_key.public_key, manifest_asc, manifest)
    assert ok, output
    tampered = tamper(pdf)
    ok, output = gpg_verify(campaign_key.public_key, pdf_asc, tampered)
    assert not ok
    assert "BADSIG" in output


def test_pdf_text_has_title_hash_count_and_manifest_hash(exported, letter):
    pdf = export_file(exported, "petition.pdf").read_bytes()
    text = pdftotext(pdf)
    flat = "".join(text.split())
    assert "Stop logging our keystrokes" in text
    assert letter.text_hash in flat
    assert exported.manifest_sha256 in flat
    assert exported.count == 42  # 43 made, one withdrawn
    assert "42 signatures of a goal of 100" in text
    assert "50 verified employees" in text
    assert "Page 1 of" in text
    assert exported.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert exported.openpgp_fingerprint in flat


def test_pdf_appendix_names_the_files_as_downloaded_and_the_exports_own_page(
    exported, letter, client_for, roles, settings
):
    text = pdftotext(export_file(exported, "petition.pdf").read_bytes(), layout=False)
    appendix = text[text.index("Appendix: how to check this document") :]
    flat = "".join(appendix.split())
    prefix = f"{letter.slug}-{str(exported.pk)[:8]}-"
    key_name = f"{roles.campaign.slug}-{exported.openpgp_fingerprint[-16:]}.asc"
    for command in (
        f"sha256sum{prefix}petition.pdf",
        f"gpg--import{key_name}",
        f"gpg--verify{prefix}petition.pdf.asc{prefix}petition.pdf",
        f"sha256sum{prefix}manifest.json",
        f"gpg--verify{prefix}manifest.json.asc{prefix}manifest.json",
    ):
        assert command in flat, command
    # No instruction names a file that no download is called.
    assert "sha256sum petition.pdf" not in appendix
    assert "“gpg --verify petition.pdf.asc" not in appendix
    # The receipt is checked on the export's own page, whose address is printed.
    export_page = settings.SITE_URL + reverse(
        "petitions:verify_export", args=[roles.campaign.slug, exported.pk]
    )
    assert export_page in flat
    assert "receipt on this export's page" in " ".join(appendix.split())
    assert "receipt on the verification page" not in " ".join(appendix.split())

    # Those are the names the files get when downloaded, by staff and by anyone.
    staff = client_for(roles.delegate)
    for name in ("petition.pdf", "petition.pdf.asc", "manifest.json", "manifest.json.asc"):
        response = staff.get(
            reverse("petitions:download", args=[roles.campaign.slug, exported.pk, name])
        )
        assert b"".join(response.streaming_content)  # read to the end, which closes it
        assert f'filename="{prefix}{name}"' in response["Content-Disposition"]
    public = client_for(None)
    for name in ("petition.pdf.asc", "manifest.json", "manifest.json.asc"):
        response = public.get(
            reverse("petitions:public_download", args=[roles.campaign.slug, exported.pk, name])
        )
        assert b"".join(response.streaming_content)  # read to the end, which closes it
        assert f'filename="{prefix}{name}"' in response["Content-Disposition"]
    response = public.get(
        reverse("petitions:public_key", args=[roles.campaign.slug]),
        {"fingerprint": exported.openpgp_fingerprint},
    )
    assert f'filename="{key_name}"' in response["Content-Disposition"]
    page = public.get(export_page.removeprefix(settings.SITE_URL)).content.decode()
    assert f"gpg --verify {prefix}petition.pdf.asc {prefix}petition.pdf" in page


def test_file_names_of_an_unlisted_letter_do_not_carry_its_secret(
    roles, campaign_key, django_capture_on_commit_callbacks
):
    letter = make_letter(roles.campaign, slug="quiet-letter")
    letter.visibility = "unlisted"
    letter.slug = f"quiet-letter-{letter.unlisted_token}"
    letter.save()
    make_signatures(letter, 3)
    export, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert export.status == "done", export.error
    name = services.export_file_name(export, "petition.pdf")
    assert name == f"quiet-letter-{str(export.pk)[:8]}-petition.pdf"
    text = pdftotext(export_file(export, "petition.pdf").read_bytes(), layout=False)
    assert letter.unlisted_token not in "".join(text.split())


def test_pdf_respects_k_anonymity_and_reveal_thresholds(exported):
    text = pdftotext(export_file(exported, "petition.pdf").read_bytes())
    # Departments and locations: "Engineering" (25+) and "Tiny team" (12) >= k=5;
    # "Secret lab"/"Attic" (1) is merged into "other".
    assert "Engineering" in text and "Tiny team" in text
    assert "Secret lab" not in text and "Attic" not in text
    assert "other or not given" in text
    # Names: shown at once, threshold 10 met (42 >= 10); 1000 and 43 not met.
    assert "Alice Shown" in text and "Bob Shown" in text
    assert "Carol Hidden" not in text and "Dave Hidden" not in text
    # Their pseudonyms stand in for them; the withdrawn signature is absent.
    assert "pseudo00040" in text and "pseudo00041" in text
    assert "pseudo00038" not in text  # Alice is listed by name
    assert "withdrawn-one" not in text
    assert "pseudo00000" in text


def test_manifest_and_pdf_group_spellings_like_the_public_pages(
    roles, campaign_key, django_capture_on_commit_callbacks
):
    from signatures.selectors import letter_figures

    letter = make_letter(roles.campaign, slug="spellings")
    make_signatures(letter, 3, department="Warehouse", location="Porto")
    make_signatures(letter, 2, start_index=3, department="warehouse ", location="porto")
    make_signatures(letter, 1, start_index=5, department="WAREHOUSE", location="Lisbon")
    export, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    entries = json.loads(export_file(export, "manifest.json").read_bytes())["signatures"]
    assert {e["department"] for e in entries} == {"Warehouse"}
    assert sorted(e["location"] for e in entries) == [""] + ["Porto"] * 5
    text = pdftotext(export_file(export, "petition.pdf").read_bytes())
    assert re.search(r"Warehouse\s+6\b", text)
    assert "warehouse" not in text and "WAREHOUSE" not in text
    assert re.search(r"Porto\s+5\b", text) and "Lisbon" not in text
    # The same groups as the letter's public figures.
    figures = letter_figures(letter, use_cache=False)
    assert figures.departments == [("Warehouse", 6)]
    assert figures.locations == [("Porto", 5)]


def test_manifest_is_canonical_and_hashed(exported):
    """Format 2 (the letter has a log): an object with the checkpoint, the
    verifier key and the signatures, each with its log index."""
    data = export_file(exported, "manifest.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == exported.manifest_sha256
    manifest = json.loads(data)
    assert sorted(manifest) == ["checkpoint", "format", "signatures", "verifier_key"]
    assert manifest["format"] == exported.manifest_format == 2
    entries = manifest["signatures"]
    assert len(entries) == exported.count
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert all(
        sorted(e) == ["department", "hour", "id", "location", "log_index", "name", "pseudonym"]
        for e in entries
    )
    assert all(type(e["log_index"]) is int for e in entries)
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical.encode() == data
    by_pseudonym = {e["pseudonym"]: e for e in entries}
    assert by_pseudonym["pseudo00038"]["name"] == "Alice Shown"
    assert by_pseudonym["pseudo00040"]["name"] == ""
    assert by_pseudonym["pseudo00037"]["department"] == ""
    assert by_pseudonym["pseudo00030"]["department"] == "Tiny team"
    assert by_pseudonym["pseudo00000"]["hour"].endswith(":00Z")


def test_same_state_same_export_and_new_signature_new_export(
    roles, exported, letter, django_capture_on_commit_callbacks
):
    again, created = run_export(
        django_capture_on_commit_callbacks, actor=roles.organizer, letter=letter
    )
    assert not created and again.pk == exported.pk
    assert Export.objects.count() == 1
    make_signatures(letter, 1, start_index=100)
    newer, created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert created and newer.pk != exported.pk
    assert newer.count == 43
    letter_size, _ = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter, paper="letter"
    )
    assert letter_size.pk != newer.pk
    info = subprocess.run(
        ["pdfinfo", str(export_file(letter_size, "petition.pdf"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "612 x 792" in info
    a4 = subprocess.run(
        ["pdfinfo", str(export_file(newer, "petition.pdf"))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "595.276 x 841.89" in a4 or "595.28 x 841.89" in a4


def test_redelivered_task_is_a_noop_when_done_and_restarts_when_half_done(exported):
    before = export_file(exported, "petition.pdf").read_bytes()
    assert services.export_render(exported.pk) == "noop"
    exported.refresh_from_db()
    assert exported.attempts == 1
    assert export_file(exported, "petition.pdf").read_bytes() == before
    # Simulate a worker killed mid-render: status running, a stale partial dir.
    Export.objects.filter(pk=exported.pk).update(status=ExportStatus.RUNNING, progress=40)
    stale = exported.directory.parent / f"{exported.pk}.stale.partial"
    stale.mkdir()
    (stale / "petition.pdf").write_bytes(b"half")
    assert services.export_render(exported.pk) == "done"
    exported.refresh_from_db()
    assert exported.status == ExportStatus.DONE and exported.attempts == 2
    assert not stale.exists()
    assert AuditEntry.objects.filter(action="export.done", object_id=str(exported.pk)).count() == 2


def test_the_render_task_keeps_its_name_and_is_enqueued_by_it():
    # Tasks already queued under the old name must still find their function.
    assert tasks.render_export.name == services.RENDER_TASK == "signatures.export.render"
    assert current_app.tasks[services.RENDER_TASK].run is tasks.render_export.run


def test_cancel_stops_the_job(roles, campaign_key, letter):
    export, _ = services.export_start(actor=roles.delegate, letter=letter)  # not run yet
    services.export_cancel(actor=roles.delegate, export=export)
    assert services.export_render(export.pk) == "noop"
    export.refresh_from_db()
    assert export.status == ExportStatus.CANCELLED
    assert not export.directory.exists()
    with pytest.raises(ValidationError):
        services.export_cancel(actor=roles.delegate, export=export)


def test_export_needs_a_key_and_an_exportable_letter(roles, letter):
    with pytest.raises(ValidationError, match="no OpenPGP key"):
        services.export_start(actor=roles.delegate, letter=letter)
    services.campaign_key_generate(actor=roles.organizer, campaign=roles.campaign)
    draft = make_letter(roles.campaign, slug="draft-one", state=LetterState.DRAFT)
    with pytest.raises(ValidationError):
        services.export_start(actor=roles.delegate, letter=draft)
    with pytest.raises(ValidationError, match="public key"):
        services.export_start(actor=roles.delegate, letter=letter, encrypt=True)


def test_verification_page_accepts_genuine_and_rejects_tampered(client, roles, exported):
    url = reverse("petitions:verify", args=[roles.campaign.slug])
    pdf = export_file(exported, "petition.pdf").read_bytes()
    response = client.post(url, {"pdf": SimpleUploadedFile("p.pdf", pdf, "application/pdf")})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Yes: this is an export of this campaign." in body
    assert "verifies with the campaign key" in body
    assert ">42<" in body
    tampered = tamper(pdf)
    response = client.post(url, {"pdf": SimpleUploadedFile("p.pdf", tampered, "application/pdf")})
    assert response.status_code == 200
    assert "No: no export of this campaign" in response.content.decode()
    response = client.post(url, {"sha256": exported.pdf_sha256.upper()})
    assert "Yes: this is an export" in response.content.decode()
    # Bad input: a clear 400, never a 500.
    assert client.post(url, {"sha256": "xyz"}).status_code == 400
    assert client.post(url, {}).status_code == 400
    not_pdf = SimpleUploadedFile("p.pdf", b"hello", "application/pdf")
    response = client.post(url, {"pdf": not_pdf})
    assert response.status_code == 400
    assert "not a PDF" in response.content.decode()
    # Another campaign's page does not know this export.
    other = reverse("petitions:verify", args=[roles.other_campaign.slug])
    response = client.post(other, {"sha256": exported.pdf_sha256})
    assert "No: no export of this campaign" in response.content.decode()


DELIVERED = "This is the delivered petition"
EARLIER = "This is an earlier export, not the delivered petition."
NOT_DELIVERED = "Not delivered: the campaign has not recorded the delivery of this letter yet"


def test_the_verifier_tells_the_delivered_petition_from_an_earlier_export(
    client, roles, exported, letter, django_capture_on_commit_callbacks
):
    verify = reverse("petitions:verify", args=[roles.campaign.slug])

    def standing(export) -> tuple[str, str]:
        """(what the verifier says of its PDF, what its own page says)"""
        pdf = export_file(export, "petition.pdf").read_bytes()
        upload = SimpleUploadedFile("p.pdf", pdf, "application/pdf")
        answer = client.post(verify, {"pdf": upload})
        assert answer.status_code == 200
        assert "Yes: this is an export of this campaign." in answer.content.decode()
        page = client.get(reverse("petitions:verify_export", args=[roles.campaign.slug, export.pk]))
        return answer.content.decode(), page.content.decode()

    # Before any delivery: genuine, and said not to be delivered (yet).
    for text in standing(exported):
        assert NOT_DELIVERED in text
        assert DELIVERED not in text and EARLIER not in text

    # A signature is withdrawn (as a receipt does: it waits for a batch,
    # sealed here): a new export, which is the one delivered.
    from signatures.models import PendingWithdrawal, Signature
    from signatures.services.batches import batch_seal

    withdrawn = Signature.objects.get(pseudonym="pseudo00001")
    PendingWithdrawal.objects.create(letter=letter, token_hash=withdrawn.token_hash)
    batch_seal(letter=letter, force=True)
    final, created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert created and final.status == "done"
    services.delivery_record(
        actor=roles.delegate,
        export=final,
        delivered_at=final.finished_at,
        recipient="The CEO",
        method="in_person",
    )
    for text in standing(final):
        assert DELIVERED in text
        assert EARLIER not in text and NOT_DELIVERED not in text
    for text in standing(exported):
        assert EARLIER in text
        assert DELIVERED + ":" not in text and NOT_DELIVERED not in text
        # ... and it points to the delivered one, with its count.
        assert reverse("petitions:verify_export", args=[roles.campaign.slug, final.pk]) in text
        assert "with 41 signatures" in text


def test_verification_reports_a_broken_signature(client, roles, exported):
    Export.objects.filter(pk=exported.pk).update(
        pdf_signature=export_file(exported, "manifest.json.asc").read_text()
    )
    url = reverse("petitions:verify", args=[roles.campaign.slug])
    response = client.post(url, {"sha256": exported.pdf_sha256})
    assert "does NOT verify" in response.content.decode()


def test_public_downloads_and_receipt_inclusion(client, roles, exported, letter):
    base = [roles.campaign.slug, exported.pk]
    page = client.get(reverse("petitions:verify_export", args=base))
    assert page.status_code == 200
    for name in ("manifest.json", "manifest.json.asc", "petition.pdf.asc"):
        response = client.get(reverse("petitions:public_download", args=[*base, name]))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == export_file(exported, name).read_bytes()
    assert (
        client.get(reverse("petitions:public_download", args=[*base, "petition.pdf"])).status_code
        == 404
    )  # noqa: E501
    key = client.get(reverse("petitions:public_key", args=[roles.campaign.slug]))
    assert b"BEGIN PGP PUBLIC KEY BLOCK" in key.content

    url = reverse("petitions:verify_export", args=base)
    assert "Yes: the signature" in client.post(url, {"receipt": receipt_for(3)}).content.decode()
    # Withdrawn before the export: not included.
    assert "No: no signature" in client.post(url, {"receipt": receipt_for(42)}).content.decode()
    # Signed after the export: not included.
    make_signatures(letter, 1, start_index=500)
    assert "No: no signature" in client.post(url, {"receipt": receipt_for(500)}).content.decode()
    assert client.post(url, {"receipt": "short"}).status_code == 400


def test_receipt_status_api_lists_the_export(exported):
    from signatures.services.receipts import receipt_status

    status = receipt_status(receipt=receipt_for(5))
    assert [e["id"] for e in status["exports"]] == [str(exported.pk)]


def test_delivery_makes_the_letter_delivered_and_the_export_immutable(
    client_for, roles, exported, letter
):
    url = reverse("petitions:deliver", args=[roles.campaign.slug, exported.pk])
    data = {
        "delivered_at": "2020-01-02T10:00",
        "recipient": "The CEO",
        "method": "in_person",
        "notes": "Handed over at the all-hands",
    }
    client = client_for(roles.delegate)
    assert client.post(url, {**data, "method": "pigeon"}).status_code == 400
    assert client.post(url, {**data, "delivered_at": "2999-01-01T10:00"}).status_code == 400
    response = client.post(url, data)
    assert response.status_code == 302
    letter.refresh_from_db()
    exported.refresh_from_db()
    assert letter.state == LetterState.DELIVERED
    assert exported.delivered_at is not None
    assert exported.delivery.recipient == "The CEO"
    assert AuditEntry.objects.filter(action="export.deliver").count() == 1
    assert AuditEntry.objects.filter(action="letter.deliver").count() == 1
    exported.progress = 3
    with pytest.raises(ImmutableExport):
        exported.save()
    assert services.export_render(exported.pk) == "noop"
    # A second delivery is refused.
    assert client.post(url, data).status_code == 400
    # The response can be recorded later.
    response_url = reverse("petitions:response", args=[roles.campaign.slug, exported.pk])
    assert client.post(response_url, {"response": ""}).status_code == 400
    assert client.post(response_url, {"response": "We will consider it."}).status_code == 302
    exported.delivery.refresh_from_db()
    assert exported.delivery.response == "We will consider it."


def test_delivery_refused_when_signatures_changed(roles, exported, letter):
    from signatures.services.receipts import receipt_withdraw

    receipt_withdraw(receipt=receipt_for(1))  # sealed at once: the log grows
    with pytest.raises(ValidationError, match="changed after this export"):
        services.delivery_record(
            actor=roles.delegate,
            export=exported,
            delivered_at=exported.created_at,
            recipient="CEO",
            method="email",
        )
    letter.refresh_from_db()
    assert letter.state == LetterState.CLOSED


def test_a_withdrawal_waiting_for_its_batch_makes_the_export_stale(
    settings, roles, campaign_key, letter, django_capture_on_commit_callbacks
):
    """A signer withdrew after the export, before the delivery; with batches
    (issue 15) the withdrawal waited for the next seal, so the export still
    matched the signature rows and was delivered with that name in it, and
    the seal a minute later withdrew it from the delivered letter's count."""
    from signatures.models import Signature
    from signatures.services.batches import batches_seal_due
    from signatures.services.issuance import issuer_key_create
    from signatures.services.log import log_open
    from signatures.services.receipts import receipt_status, receipt_withdraw
    from tests.signatures.factories import pooled_private_key

    settings.SIGNATURE_BATCHES = "scheduled"
    # As a letter opened by letters.services has them: a key and a log.
    issuer_key_create(letter=letter, private_key=pooled_private_key())
    log_open(letter=letter)
    exported, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert exported.status == "done", exported.error
    receipt_withdraw(receipt=receipt_for(5))
    assert receipt_status(receipt=receipt_for(5))["withdrawal_pending"]
    with pytest.raises(ValidationError, match="changed after this export"):
        services.delivery_record(
            actor=roles.delegate,
            export=exported,
            delivered_at=exported.created_at,
            recipient="CEO",
            method="email",
        )
    letter.refresh_from_db()
    assert letter.state == LetterState.CLOSED
    # Sealed already: exporting again shows it, and then delivery goes ahead.
    assert batches_seal_due() == []
    receipt_hash = hashlib.sha256(receipt_for(5).encode()).hexdigest()
    assert Signature.objects.get(receipt_hash=receipt_hash).withdrawn


def test_delivery_of_an_open_letter_is_refused(
    roles, campaign_key, django_capture_on_commit_callbacks
):
    letter = make_letter(roles.campaign, slug="still-open", state=LetterState.OPEN)
    make_signatures(letter, 6)
    export, _ = run_export(django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter)
    assert export.status == "done"
    with pytest.raises(ValidationError):
        services.delivery_record(
            actor=roles.delegate,
            export=export,
            delivered_at=export.created_at,
            recipient="CEO",
            method="email",
        )
    assert not hasattr(Export.objects.get(pk=export.pk), "delivery") or True
    letter.refresh_from_db()
    assert letter.state == LetterState.OPEN


def test_campaign_page_shows_the_fingerprint(client, roles, campaign_key):
    response = client.get(reverse("organizing:campaign", args=[roles.campaign.slug]))
    assert campaign_key.fingerprint_grouped in response.content.decode()


def test_export_petition_command(roles, campaign_key, letter, tmp_path, gpg_verify):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = tmp_path / "out"
    call_command("export_petition", letter.slug, "--out", str(out))
    export = Export.objects.get(letter=letter)
    # The names a download gives them, which the PDF's appendix prints.
    prefix = f"{letter.slug}-{str(export.pk)[:8]}-"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        prefix + name
        for name in (
            "checkpoint.txt",
            "manifest.json",
            "manifest.json.asc",
            "petition.pdf",
            "petition.pdf.asc",
        )
    ]
    assert (
        json.loads((out / (prefix + "manifest.json")).read_text())["checkpoint"]
        == (out / (prefix + "checkpoint.txt")).read_text()
    )
    ok, output = gpg_verify(
        campaign_key.public_key,
        (out / f"{prefix}petition.pdf.asc").read_text(),
        (out / f"{prefix}petition.pdf").read_bytes(),
    )
    assert ok, output
    with pytest.raises(CommandError):
        call_command("export_petition", "no-such-letter", "--out", str(out))


def test_encrypted_copy_for_delegates(
    roles, campaign_key, letter, client_for, django_capture_on_commit_callbacks
):
    import shutil
    import tempfile

    from petitions import openpgp

    home = tempfile.mkdtemp(prefix="dl-")
    gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run(
            [*gpg, "--quick-gen-key", "Delegate <d@example.org>", "ed25519", "default", "never"],
            check=True,
            capture_output=True,
        )
        listing = subprocess.run(
            ["gpg", "--homedir", home, "--with-colons", "--list-keys"],
            capture_output=True,
            text=True,
        ).stdout
        fpr = listing.split("fpr:::::::::")[1][:40]
        subprocess.run(
            [*gpg, "--quick-add-key", fpr, "cv25519", "encr", "never"],
            check=True,
            capture_output=True,
        )
        public = subprocess.run(
            ["gpg", "--homedir", home, "--armor", "--export"], capture_output=True, text=True
        ).stdout
        response = client_for(roles.delegate).post(
            reverse("petitions:keys", args=[roles.campaign.slug]),
            {"action": "delegate_key", "armored": public},
        )
        assert response.status_code == 302
        export, _ = run_export(
            django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter, encrypt=True
        )
        assert export.status == "done", export.error
        ciphertext = export_file(export, "petition.pdf.gpg").read_bytes()
        plain = subprocess.run([*gpg, "--decrypt"], input=ciphertext, capture_output=True)
        assert plain.stdout == export_file(export, "petition.pdf").read_bytes()
        # Hidden recipient: the key id in the packet is zero.
        packets = subprocess.run(
            ["gpg", "--homedir", home, "--batch", "--list-packets"],
            input=ciphertext,
            capture_output=True,
        )
        assert b"keyid 0000000000000000" in packets.stdout + packets.stderr
    finally:
        openpgp.kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_cancel_during_render_stops_it(roles, campaign_key, letter):
    import logging

    from weasyprint.logger import PROGRESS_LOGGER

    export, _ = services.export_start(actor=roles.delegate, letter=letter)

    class CancelOnFirstPage(logging.Handler):
        def emit(self, record):
            if "Creating layout - Page 1" in record.getMessage():
                services.export_cancel(actor=roles.delegate, export=export)

    handler = CancelOnFirstPage()
    PROGRESS_LOGGER.addHandler(handler)
    try:
        assert services.export_render(export.pk) == "cancelled"
    finally:
        PROGRESS_LOGGER.removeHandler(handler)
    export.refresh_from_db()
    assert export.status == ExportStatus.CANCELLED
    assert not export.directory.exists()
    assert not list(export.directory.parent.glob("*.partial"))
