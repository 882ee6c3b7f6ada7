"""Exports include only what the public list shows: text the organizers hid,
or that waits for their review, is blank in the manifest and absent from the
PDF, which says how many signatures have such text (petitions/manifest.py)."""

from __future__ import annotations

import json

import pytest

from petitions.manifest import build_manifest, parse_manifest
from petitions.services import export_file
from signatures.models import Signature, SignatureModeration
from signatures.services.moderation import signature_hide
from tests.petitions.conftest import run_export
from tests.petitions.test_export import pdftotext

pytestmark = pytest.mark.django_db


def by_pseudonym(letter, pseudonym) -> Signature:
    return Signature.objects.get(letter=letter, pseudonym=pseudonym)


@pytest.fixture
def moderated(roles, letter):
    """Four signatures with text held back: a pseudonym hidden, a shown name
    hidden, one held for review, a department hidden; and a withdrawn one
    hidden (not in the export at all)."""
    hide = signature_hide
    hide(
        actor=roles.organizer,
        signature=by_pseudonym(letter, "pseudo00005"),
        fields=["pseudonym"],
        reason="abuse",
    )
    hide(
        actor=roles.organizer,
        signature=by_pseudonym(letter, "pseudo00038"),
        fields=["public_name"],
        reason="impersonation",
    )
    SignatureModeration.objects.create(signature=by_pseudonym(letter, "pseudo00006"), held=True)
    hide(
        actor=roles.organizer,
        signature=by_pseudonym(letter, "pseudo00030"),
        fields=["department", "location"],
        reason="personal",
    )
    SignatureModeration.objects.create(
        signature=by_pseudonym(letter, "withdrawn-one"), hide_pseudonym=True
    )
    return letter


def test_the_manifest_blanks_what_is_held_back_and_counts_it(moderated):
    manifest = build_manifest(moderated)
    assert manifest.count == 42 and manifest.hidden_text == 4
    entries = {e.id: e for e in manifest.entries}
    ids = {
        p: str(by_pseudonym(moderated, p).pk)
        for p in ("pseudo00005", "pseudo00038", "pseudo00006", "pseudo00030")
    }
    assert entries[ids["pseudo00005"]].pseudonym == ""
    assert (
        entries[ids["pseudo00038"]].name == ""
        and entries[ids["pseudo00038"]].pseudonym == "pseudo00038"
    )
    held = entries[ids["pseudo00006"]]
    assert (held.pseudonym, held.name, held.department, held.location) == ("", "", "", "")
    assert (
        entries[ids["pseudo00030"]].department == "" and entries[ids["pseudo00030"]].location == ""
    )
    # Hidden groups are not counted under their name: Tiny team had 12.
    assert dict(manifest.departments)["Tiny team"] == 11
    assert dict(manifest.departments)["Engineering"] == 28  # 29 counted, pseudo00006 held
    data = json.loads(manifest.data)
    assert (
        "pseudo00005" not in manifest.data.decode() and "Alice Shown" not in manifest.data.decode()
    )
    assert len(data) == 42


def test_an_unmoderated_manifest_is_unchanged(letter):
    before = build_manifest(letter)
    assert before.hidden_text == 0
    SignatureModeration.objects.create(
        signature=by_pseudonym(letter, "withdrawn-one"), hide_pseudonym=True
    )
    assert build_manifest(letter).sha256 == before.sha256


def test_the_pdf_leaves_out_what_is_held_back_and_says_how_many(
    roles, campaign_key, moderated, django_capture_on_commit_callbacks
):
    export, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=moderated
    )
    assert export.status == "done", export.error
    text = pdftotext(export_file(export, "petition.pdf").read_bytes())
    flat = " ".join(text.split())
    assert "4 signatures have text hidden by the organizers" in flat
    assert "pseudo00005" not in text and "pseudo00006" not in text
    assert "Alice Shown" not in text
    assert "pseudo00038" in text  # listed by pseudonym now, like an unnamed signer
    assert "42 signatures of a goal of 100" in flat
    manifest = parse_manifest(export_file(export, "manifest.json").read_bytes())
    assert sum(1 for e in manifest.signatures if e["pseudonym"] == "") == 2
