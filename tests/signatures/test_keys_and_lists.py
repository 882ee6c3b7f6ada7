"""Issuer keys at rest, the letter_opened hook, the public list's disclosure
rules, the invite-code command and the demo hook."""

from __future__ import annotations

import io

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client

from letters.models import Letter, LetterState
from letters.signals import letter_opened
from organizing.models import AuditEntry
from signatures import blindrsa, keys
from signatures.models import Attestation, InviteCode, IssuerKey, LetterLog, LogEntry, Signature
from signatures.selectors import letter_figures, letter_figures_forget
from signatures.services.eligibility import (
    invite_code_hmac,
    invite_code_normalize,
    invite_codes_create,
)
from tests.signatures.factories import open_letter, sealed_signature, sealed_withdrawal

pytestmark = pytest.mark.django_db


def draft_letter(campaign) -> Letter:
    return open_letter(campaign, state=LetterState.DRAFT, with_key=False)


def test_opening_a_letter_creates_an_encrypted_2048_bit_issuer_key(roles, settings):
    letter = draft_letter(roles.campaign)
    with transaction.atomic():
        letter_opened.send(sender=Letter, letter=letter)
    row = IssuerKey.objects.get(letter=letter)
    public = serialization.load_pem_public_key(row.public_key_pem.encode())
    assert public.key_size == 2048 and public.public_numbers().e == 65537
    blob = bytes(row.private_key_encrypted)
    parsed = keys.decrypt_private_key(blob, letter_id=letter.pk, key_id=row.key_id)
    assert parsed.key_id == row.key_id
    der = parsed.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert der not in blob and der[64:96] not in blob
    # Bound to its letter, and useless without the server secret.
    with pytest.raises(InvalidTag):
        keys.decrypt_private_key(blob, letter_id=letter.pk + 1, key_id=row.key_id)
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-0123456789"
    with pytest.raises(InvalidTag):
        keys.decrypt_private_key(blob, letter_id=letter.pk, key_id=row.key_id)
    # Sending the signal again keeps the key.
    letter_opened.send(sender=Letter, letter=letter)
    assert IssuerKey.objects.get(letter=letter).key_id == row.key_id


def test_a_failing_key_creation_rolls_the_opening_back(roles, monkeypatch):
    letter = draft_letter(roles.campaign)

    def broken(bits=2048):
        raise blindrsa.SigningFailure("no entropy")

    monkeypatch.setattr(blindrsa, "generate_issuer_key", broken)
    with pytest.raises(blindrsa.SigningFailure):
        with transaction.atomic():
            Letter.objects.filter(pk=letter.pk).update(state=LetterState.OPEN)
            letter_opened.send(sender=Letter, letter=letter)
    letter.refresh_from_db()
    assert letter.state == LetterState.DRAFT
    assert not IssuerKey.objects.filter(letter=letter).exists()


def sig(letter, pseudonym, *, withdrawn: bool = False, **fields) -> Signature:
    """A signature sealed into the log (the count is the log's), withdrawn
    in a batch of its own if asked."""
    signature = sealed_signature(letter, pseudonym, **fields)
    if withdrawn:
        sealed_withdrawal(signature)
    return signature


def public_rows(letter) -> dict[str, dict]:
    letter_figures_forget(letter)
    body = Client().get(f"/api/v1/letters/{letter.slug}/signatures").json()
    return {row["pseudonym"]: row for row in body["results"]}


def test_public_names_show_once_their_threshold_is_reached(letter):
    sig(letter, "now", public_name="Ann Lee")
    sig(letter, "at3", public_name="Bo Ek", reveal_at=3)
    rows = public_rows(letter)
    assert rows["now"]["public_name"] == "Ann Lee"
    assert rows["at3"]["public_name"] is None
    sig(letter, "third")
    assert public_rows(letter)["at3"]["public_name"] == "Bo Ek"
    # A withdrawal brings the count back under the threshold.
    sealed_withdrawal(Signature.objects.get(pseudonym="third"))
    rows = public_rows(letter)
    assert rows["at3"]["public_name"] is None and "third" not in rows


def test_departments_and_locations_show_only_for_groups_of_k(letter):
    k = letter.campaign.k_threshold
    assert k == 5
    for i in range(k):
        sig(letter, f"legal-{i}", department="Legal", location="Oslo" if i < 2 else "Bergen")
    for i in range(k - 1):
        sig(letter, f"hr-{i}", department="HR", location="Oslo")
    rows = public_rows(letter)
    assert rows["legal-0"]["department"] == "Legal"
    assert rows["hr-0"]["department"] is None
    # Oslo has 2 + 4 = 6 >= k, Bergen has 3 < k.
    assert rows["hr-0"]["location"] == "Oslo"
    assert rows["legal-4"]["location"] is None
    # Legal and Oslo both show alone, but Legal-in-Oslo is only 2 people.
    assert rows["legal-0"]["location"] is None
    figures = letter_figures(letter, use_cache=False)
    assert figures.departments == [("Legal", 5)]
    assert figures.locations == [("Oslo", 6)]
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    assert detail["departments"] == [{"name": "Legal", "count": 5}]


def test_groups_ignore_case_and_spacing_and_show_one_spelling(letter):
    """Five people of one warehouse, spelled three ways: one group of k,
    shown, where separate spellings all stayed under k and hidden."""
    assert letter.campaign.k_threshold == 5
    spellings = ["Warehouse", "Warehouse", "warehouse", "WAREHOUSE ", " warehouse"]
    for i, department in enumerate(spellings):
        sig(letter, f"w-{i}", department=department, location=["Oslo", "oslo"][i % 2])
    for i in range(4):
        sig(letter, f"hr-{i}", department=["HR", "hr"][i % 2], location="Bergen")
    sig(letter, "ware-house", department="Ware house", location="Bergen")
    figures = letter_figures(letter, use_cache=False)
    # The most used spelling stands for the group; "Ware house" is another word.
    assert figures.departments == [("Warehouse", 5)]
    assert figures.locations == [("Bergen", 5), ("Oslo", 5)]
    rows = public_rows(letter)
    assert {rows[f"w-{i}"]["department"] for i in range(5)} == {"Warehouse"}
    assert rows["hr-0"]["department"] is None and rows["ware-house"]["department"] is None
    # The pair Warehouse x Oslo holds all five (the location spelled two ways).
    assert {rows[f"w-{i}"]["location"] for i in range(5)} == {"Oslo"}
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    assert detail["departments"] == [{"name": "Warehouse", "count": 5}]


def test_the_letters_manage_page_shows_its_count_and_groups(letter, roles, client_for):
    from django.urls import reverse

    for i in range(5):
        sig(letter, f"w-{i}", department=["Warehouse", "warehouse"][i % 2])
    sig(letter, "gone", department="Warehouse", withdrawn=True)
    url = reverse("letters:manage_detail", args=[roles.campaign.slug, letter.pk])
    html = client_for(roles.organizer).get(url).content.decode()
    assert "<strong>5</strong> signatures of a goal of 100 (5%)" in html
    assert "<tr><td>Warehouse</td><td>5</td></tr>" in html
    # A draft has no signatures to count: no figures.
    draft = draft_letter(roles.campaign)
    url = reverse("letters:manage_detail", args=[roles.campaign.slug, draft.pk])
    assert 'id="letter-figures"' not in client_for(roles.organizer).get(url).content.decode()


def test_the_spelling_shown_is_the_most_used_then_the_first_in_order():
    from signatures.selectors import canonical_groups, group_key

    assert group_key("  North   Wing ") == group_key("north wing") == "north wing"
    assert canonical_groups({"north wing": 2, "North  Wing": 3}) == {
        "north wing": ("North Wing", 5)
    }
    # A tie: code-point order ("W" before "w").
    assert canonical_groups({"warehouse": 2, "Warehouse": 2}) == {"warehouse": ("Warehouse", 4)}
    assert canonical_groups({"": 7, "   ": 1}) == {}


def test_public_list_is_paginated_and_not_in_signing_order(letter):
    for i in range(60):
        sig(letter, f"p{i:03d}")
    first = Client().get(f"/api/v1/letters/{letter.slug}/signatures").json()
    second = Client().get(f"/api/v1/letters/{letter.slug}/signatures?page=2").json()
    assert first["count"] == 60 and first["pages"] == 2 and first["next"] == 2
    assert len(first["results"]) == 50 and len(second["results"]) == 10
    shown = [row["pseudonym"] for row in first["results"] + second["results"]]
    assert sorted(shown) == [f"p{i:03d}" for i in range(60)]
    assert shown != [f"p{i:03d}" for i in range(60)]  # 1 in 60! chance of a false failure
    for page in ("0", "3", "x", "-1"):
        assert (
            Client().get(f"/api/v1/letters/{letter.slug}/signatures?page={page}").status_code == 400
        )


def test_create_invite_codes_command_prints_one_code_a_line(roles):
    out = io.StringIO()
    call_command("create_invite_codes", "acme", "--count", "3", "--batch", "night", stdout=out)
    codes = out.getvalue().split()
    assert len(codes) == 3 and len(set(codes)) == 3
    stored = set(
        InviteCode.objects.filter(campaign=roles.campaign).values_list("code_hmac", flat=True)
    )
    assert stored == {invite_code_hmac(invite_code_normalize(c)) for c in codes}
    assert set(InviteCode.objects.values_list("batch", flat=True)) == {"night"}
    assert AuditEntry.objects.filter(action="invite_codes.create").count() == 1
    with pytest.raises(CommandError):
        call_command("create_invite_codes", "nope", "--count", "3", stdout=out)
    with pytest.raises(CommandError):
        call_command("create_invite_codes", "acme", "--count", "0", stdout=out)


def test_invite_codes_service_checks_the_actor(roles):
    codes = invite_codes_create(actor=roles.organizer, campaign=roles.campaign, count=2)
    assert len(codes) == 2
    from django.core.exceptions import PermissionDenied

    for who in ("member", "delegate", "other_organizer"):
        with pytest.raises(PermissionDenied):
            invite_codes_create(actor=roles.users()[who], campaign=roles.campaign, count=1)
    with pytest.raises(ValidationError):
        invite_codes_create(actor=roles.organizer, campaign=roles.campaign, count=10**6)


def test_demo_hook_is_idempotent(roles):
    from signatures.demo import seed_signatures_demo

    letter = open_letter(roles.campaign, with_key=False)
    out = io.StringIO()
    from django.core.management.base import OutputWrapper

    for _ in range(2):
        seed_signatures_demo(campaign=roles.campaign, accounts={}, stdout=OutputWrapper(out))
    assert Attestation.objects.filter(campaign=roles.campaign).count() == 2
    assert IssuerKey.objects.filter(letter=letter).count() == 1
    # Its log, with entry 0 alone.
    assert LetterLog.objects.get(letter=letter).size == 1
    assert LogEntry.objects.filter(letter=letter).count() == 1
    printed = [line.strip() for line in out.getvalue().splitlines() if line.startswith("  ")]
    assert len(printed) == 10
    assert InviteCode.objects.filter(campaign=roles.campaign).count() == 10
