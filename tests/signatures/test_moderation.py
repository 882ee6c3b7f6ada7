"""Moderation of signers' public text (signatures/services/moderation.py):
what hiding, holding and showing again do to the public list, the API, the
log's disclosure, the group figures and the receipt; reports from anyone.

The log checks rebuild each entry's fields_sha256 from what the public list
gives (docs/signing-protocol.md, "Entries"), written here without the
project's tlog module.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.template import Context, Template
from django.test import Client

from organizing.models import AuditEntry
from signatures.models import (
    MODERATED_FIELDS,
    ReportStatus,
    Signature,
    SignatureModeration,
    SignatureReport,
)
from signatures.selectors import letter_figures, letter_figures_forget
from signatures.services.moderation import (
    hold_list_update,
    reports_dismiss,
    signature_hide,
    signature_show,
)
from tests.signatures.factories import open_letter, sealed_signatures
from tests.signatures.helpers import post_json

pytestmark = pytest.mark.django_db


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_rows(letter) -> dict[str, dict]:
    letter_figures_forget(letter)
    body = Client().get(f"/api/v1/letters/{letter.slug}/signatures").json()
    return {row["id"]: row for row in body["results"]}


def logged_entries(letter) -> list[bytes]:
    bundle = Client().get(f"/log/{letter.slug}/tile/entries/000.p/{letter.log.size}").content
    entries = []
    while bundle:
        length = int.from_bytes(bundle[:2], "big")
        entries.append(bundle[2 : 2 + length])
        bundle = bundle[2 + length :]
    return entries


def commitment_of_row(row: dict) -> str:
    """fields_sha256 rebuilt from the public row alone: shown fields from
    their value and field salt, the others from the hash given."""
    hashes = dict(row["commitment"]["hashes"])
    for name, one_salt in row["commitment"]["salts"].items():
        hashes[name] = hashlib.sha256(canonical([one_salt, name, row[name] or ""])).hexdigest()
    return hashlib.sha256(canonical(hashes)).hexdigest()


def assert_row_matches_the_log(letter, row: dict) -> None:
    entry = json.loads(logged_entries(letter)[row["log_index"]])
    assert entry["fields_sha256"] == commitment_of_row(row)


@pytest.fixture
def signed(letter):
    """Three sealed signatures: Heron with a comment, Finch with a name and
    a group, Wren plain."""
    made = sealed_signatures(
        letter,
        {"pseudonym": "Heron", "comment": "The CEO lives at 12 Elm Street."},
        {"pseudonym": "Finch", "public_name": "Bea Fink", "department": "Legal"},
        {"pseudonym": "Wren"},
    )
    return {sig.pseudonym: (sig, receipt) for sig, receipt in made}


# --- hiding and showing again --------------------------------------------------------


def test_hidden_text_leaves_the_list_the_api_and_the_disclosure_but_still_counts(
    letter, roles, signed
):
    heron, _receipt = signed["Heron"]
    before = public_rows(letter)[str(heron.pk)]
    assert before["comment"] == "The CEO lives at 12 Elm Street."
    assert "comment" in before["commitment"]["salts"]
    assert before["moderation"] is None

    signature_hide(
        actor=roles.organizer, signature=heron, fields=["comment"], reason="personal", note=""
    )
    row = public_rows(letter)[str(heron.pk)]
    assert row["comment"] is None and row["pseudonym"] == "Heron"
    assert row["moderation"] == {"state": "hidden", "fields": ["comment"]}
    # The field's salt is no longer published: only its hash, which no
    # guess of the text can be checked against.
    assert "comment" not in row["commitment"]["salts"]
    assert "comment" in row["commitment"]["hashes"]
    salted_guess = hashlib.sha256(
        canonical([before["commitment"]["salts"]["comment"], "comment", heron.comment])
    ).hexdigest()
    assert row["commitment"]["hashes"]["comment"] == salted_guess  # the same commitment
    assert salted_guess not in json.dumps(row["commitment"]["salts"])
    # What is shown still checks against the log.
    assert_row_matches_the_log(letter, row)
    # Nothing of the text is anywhere in the list's answer or page.
    listing = Client().get(f"/api/v1/letters/{letter.slug}/signatures").content.decode()
    assert "Elm Street" not in listing
    page = Client().get(f"/letters/{letter.slug}/signatures/").content.decode()
    assert "Elm Street" not in page and "Comment hidden by the organizers." in page
    # It counts.
    assert letter_figures(letter, use_cache=False).count == 3

    assert signature_show(actor=roles.organizer, signature=heron) is True
    row = public_rows(letter)[str(heron.pk)]
    assert row["comment"] == heron.comment and row["moderation"] is None
    assert "comment" in row["commitment"]["salts"]
    assert_row_matches_the_log(letter, row)
    assert not SignatureModeration.objects.exists()
    assert signature_show(actor=roles.organizer, signature=heron) is False


def test_every_field_can_be_hidden_and_the_row_says_so_in_its_place(letter, roles, signed):
    finch, _receipt = signed["Finch"]
    signature_hide(
        actor=roles.organizer,
        signature=finch,
        fields=list(MODERATED_FIELDS),
        reason="impersonation",
        note="Not her name.",
    )
    row = public_rows(letter)[str(finch.pk)]
    for name in MODERATED_FIELDS:
        assert row[name] is None, name
    # Only the fields that would have shown are named: the department is in
    # a group under k and would not have shown anyway.
    assert row["moderation"] == {"state": "hidden", "fields": ["pseudonym", "public_name"]}
    assert not set(MODERATED_FIELDS) & set(row["commitment"]["salts"])
    assert_row_matches_the_log(letter, row)
    html = Client().get(f"/letters/{letter.slug}/signatures/").content.decode()
    assert "Bea Fink" not in html and "Finch" not in html
    assert "Hidden by the organizers" in html
    assert "department hidden" not in html  # it would not have shown (k)


def test_the_pseudonym_alone_hidden_keeps_the_name(letter, roles, signed):
    finch, _receipt = signed["Finch"]
    signature_hide(actor=roles.organizer, signature=finch, fields=["pseudonym"], reason="abuse")
    html = Client().get(f"/letters/{letter.slug}/signatures/").content.decode()
    assert "Bea Fink" in html and "pseudonym hidden by the organizers" in html
    assert "Finch" not in html


def test_hiding_replaces_what_was_hidden_and_needs_an_organizer(letter, roles, signed):
    heron, _receipt = signed["Heron"]
    signature_hide(actor=roles.organizer, signature=heron, fields=["comment"], reason="abuse")
    signature_hide(actor=roles.organizer, signature=heron, fields=["pseudonym"], reason="spam")
    moderation = SignatureModeration.objects.get(signature=heron)
    assert moderation.hidden_fields == ("pseudonym",) and moderation.reason == "spam"
    for user in (roles.delegate, roles.member, roles.other_organizer, None):
        with pytest.raises(PermissionDenied):
            signature_hide(actor=user, signature=heron, fields=["comment"], reason="abuse")
        with pytest.raises(PermissionDenied):
            signature_show(actor=user, signature=heron)
        with pytest.raises(PermissionDenied):
            reports_dismiss(actor=user, signature=heron)
        with pytest.raises(PermissionDenied):
            hold_list_update(actor=user, campaign=letter.campaign, terms="Tim Cook")
    assert SignatureModeration.objects.get(signature=heron).hidden_fields == ("pseudonym",)


@pytest.mark.parametrize(
    ("fields", "reason", "note"),
    [
        ([], "abuse", ""),
        (["comment", "email"], "abuse", ""),
        ("comment", "abuse", ""),
        (["comment"], "because", ""),
        (["comment"], "abuse", "x" * 501),
        (["comment"], "abuse", "a\u202eb"),
    ],
)
def test_hiding_refuses_bad_input(letter, roles, signed, fields, reason, note):
    from signatures.errors import BadRequest

    heron, _receipt = signed["Heron"]
    with pytest.raises(BadRequest):
        signature_hide(
            actor=roles.organizer, signature=heron, fields=fields, reason=reason, note=note
        )
    assert not SignatureModeration.objects.exists()


def test_hidden_departments_leave_the_group_figures(letter, roles):
    made = sealed_signatures(
        letter, *[{"pseudonym": f"Legal {i}", "department": "Legal"} for i in range(5)]
    )
    figures = letter_figures(letter, use_cache=False)
    assert figures.departments == [("Legal", 5)]
    assert all(row["department"] == "Legal" for row in public_rows(letter).values())
    signature_hide(
        actor=roles.organizer, signature=made[0][0], fields=["department"], reason="personal"
    )
    # Five in the group would tell that the hidden department is Legal: the
    # group now holds four, under k, and shows for nobody.
    figures = letter_figures(letter, use_cache=False)
    assert figures.departments == [] and figures.count == 5
    assert all(row["department"] is None for row in public_rows(letter).values())


def test_audit_entries_name_the_signature_not_its_text(letter, roles, signed):
    heron, _receipt = signed["Heron"]
    signature_hide(
        actor=roles.organizer, signature=heron, fields=["comment"], reason="personal", note="Hm."
    )
    signature_show(actor=roles.organizer, signature=heron)
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook\nDana Lee")
    entries = list(AuditEntry.objects.filter(campaign=letter.campaign).order_by("id"))
    assert [e.action for e in entries] == ["signature.hide", "signature.show", "hold_list.update"]
    assert entries[0].object_id == str(heron.pk)
    for entry in entries:
        assert "Elm Street" not in entry.summary and "Tim Cook" not in entry.summary
        assert entry.actor == roles.organizer


# --- the hold list -------------------------------------------------------------------


def test_held_text_counts_at_once_and_shows_only_after_review(letter, roles):
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook\n")
    made = sealed_signatures(
        letter,
        {"pseudonym": "Quiet Heron"},
        {"pseudonym": "T1m C00k", "comment": "I resign."},
        {"pseudonym": "Finch", "public_name": "tim  cook", "reveal_at": 1000},
    )
    (heron, _r1), (fake, receipt), (finch, _r3) = made
    assert letter_figures(letter, use_cache=False).count == 3
    held = set(SignatureModeration.objects.filter(held=True).values_list("signature_id", flat=True))
    # A public name under its threshold is checked too: it would show later.
    assert held == {fake.pk, finch.pk}
    rows = public_rows(letter)
    assert rows[str(heron.pk)]["moderation"] is None
    for sig in (fake, finch):
        row = rows[str(sig.pk)]
        assert row["moderation"]["state"] == "waiting_for_review"
        assert all(row[name] is None for name in MODERATED_FIELDS)
        assert not set(MODERATED_FIELDS) & set(row["commitment"]["salts"])
        assert_row_matches_the_log(letter, row)
    html = Client().get(f"/letters/{letter.slug}/signatures/").content.decode()
    assert "T1m C00k" not in html and "I resign." not in html
    assert html.count("Text waiting for the organizers' review") == 2

    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert status == 200 and body["moderation"]["state"] == "waiting_for_review"
    assert "waits for the organizers' review" in body["moderation"]["message"]

    assert signature_show(actor=roles.organizer, signature=fake)
    assert AuditEntry.objects.filter(action="signature.approve").count() == 1
    row = public_rows(letter)[str(fake.pk)]
    assert row["pseudonym"] == "T1m C00k" and row["comment"] == "I resign."
    assert_row_matches_the_log(letter, row)
    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert body["moderation"] is None


def test_a_held_signature_hidden_after_review_shows_the_rest(letter, roles):
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    ((fake, _receipt),) = sealed_signatures(
        letter, {"pseudonym": "Heron", "public_name": "Tim Cook", "comment": "Yes."}
    )
    signature_hide(
        actor=roles.organizer, signature=fake, fields=["public_name"], reason="impersonation"
    )
    row = public_rows(letter)[str(fake.pk)]
    assert row["moderation"] == {"state": "hidden", "fields": ["public_name"]}
    assert row["pseudonym"] == "Heron" and row["comment"] == "Yes." and row["public_name"] is None
    assert "after review" in AuditEntry.objects.get(action="signature.hide").summary


def test_the_hold_list_applies_to_batches_sealed_after_it(letter, roles, signed):
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Wren")
    assert not SignatureModeration.objects.exists()  # Wren was sealed before
    sealed_signatures(letter, {"pseudonym": "Wren the second"})
    assert SignatureModeration.objects.filter(held=True).count() == 1


@pytest.mark.parametrize(
    "terms",
    ["Al", "A. B.", "x\u0000", "a\u202eb", "Tim Cook\n" + "y" * 81, 7],
)
def test_the_hold_list_refuses_terms_that_would_hold_everything_or_bad_text(letter, roles, terms):
    from signatures.errors import BadRequest

    with pytest.raises(BadRequest):
        hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms=terms)


def test_the_hold_list_drops_blank_lines_and_duplicates_and_has_a_size_limit(letter, roles):
    from signatures.errors import BadRequest

    saved = hold_list_update(
        actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook\n\n  TIM-COOK \nDana Lee"
    )
    assert saved.terms == ["Tim Cook", "Dana Lee"]
    with pytest.raises(BadRequest):
        hold_list_update(
            actor=roles.organizer,
            campaign=letter.campaign,
            terms="\n".join(f"Name number {i}" for i in range(201)),
        )


# --- the receipt ---------------------------------------------------------------------


def test_the_receipt_says_what_was_hidden_when_and_why(letter, roles, signed):
    heron, receipt = signed["Heron"]
    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert status == 200 and body["moderation"] is None
    signature_hide(
        actor=roles.organizer,
        signature=heron,
        fields=["comment", "pseudonym"],
        reason="personal",
        note="It gives an address.",
    )
    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    moderation = body["moderation"]
    assert moderation["state"] == "hidden"
    assert moderation["fields"] == ["pseudonym", "comment"]
    assert moderation["reason"] == "personal" and moderation["note"] == "It gives an address."
    assert moderation["date"] == SignatureModeration.objects.get().decided_on.isoformat()
    message = moderation["message"]
    assert "pseudonym, comment" in message and "Exposes or identifies a person" in message
    assert "It gives an address." in message and "counts" in message
    assert body["status"] == "counted"


def test_a_waiting_signature_has_no_moderation_yet(settings, letter, attestation_ids):
    from tests.signatures.test_batches import sign_with_invites

    settings.SIGNATURE_BATCHES = "scheduled"
    letter.campaign.batch_min = 3
    letter.campaign.save()
    ((_token, created),) = sign_with_invites(letter, attestation_ids, 1)
    status, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": created["receipt"]})
    assert status == 200 and body["status"] == "pending" and body["moderation"] is None


# --- reports -------------------------------------------------------------------------


def report_path(letter, signature) -> str:
    return f"/api/v1/letters/{letter.slug}/signatures/{signature.pk}/reports"


def test_anyone_reports_and_the_report_keeps_nothing_of_them(letter, signed):
    heron, _receipt = signed["Heron"]
    client = Client(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Reporter/1.0")
    status, body = post_json(
        client, report_path(letter, heron), {"reason": "personal", "note": "An address."}
    )
    assert status == 201 and body["status"] == "received"
    report = SignatureReport.objects.get()
    assert (report.signature_id, report.reason, report.note) == (
        heron.pk,
        "personal",
        "An address.",
    )
    assert report.status == ReportStatus.OPEN
    stored = json.dumps(list(SignatureReport.objects.values()), default=str)
    assert "203.0.113.9" not in stored and "Reporter" not in stored
    assert {f.name for f in SignatureReport._meta.fields} == {
        "id",
        "signature",
        "reason",
        "note",
        "reported_on",
        "status",
    }


def test_reports_are_upheld_by_hiding_and_dismissed_otherwise(letter, roles, signed):
    heron, _r = signed["Heron"]
    wren, _r = signed["Wren"]
    for sig in (heron, heron, wren):
        assert post_json(Client(), report_path(letter, sig), {"reason": "abuse"})[0] == 201
    signature_hide(actor=roles.organizer, signature=heron, fields=["comment"], reason="abuse")
    assert reports_dismiss(actor=roles.organizer, signature=wren) == 1
    assert reports_dismiss(actor=roles.organizer, signature=wren) == 0
    statuses = {(r.signature_id, r.status) for r in SignatureReport.objects.all()}
    assert statuses == {(heron.pk, ReportStatus.UPHELD), (wren.pk, ReportStatus.DISMISSED)}
    assert "2 report(s) upheld" in AuditEntry.objects.get(action="signature.hide").summary
    assert AuditEntry.objects.filter(action="report.dismiss").count() == 1


def test_report_refusals(letter, roles, signed):
    heron, _r = signed["Heron"]
    wren, _r = signed["Wren"]
    other = open_letter(letter.campaign)
    ((elsewhere, _r),) = sealed_signatures(other, {"pseudonym": "Elsewhere"})
    Signature.objects.filter(pk=wren.pk).update(withdrawn=True)
    cases = [
        (report_path(letter, heron), {"reason": "nope"}, 400, "bad_request"),
        (report_path(letter, heron), {}, 400, "bad_request"),
        (report_path(letter, heron), {"reason": "abuse", "note": 5}, 400, "bad_request"),
        (report_path(letter, heron), {"reason": "abuse", "note": "x" * 501}, 400, "bad_request"),
        (report_path(letter, heron), {"reason": "abuse", "note": "\u0000"}, 400, "bad_request"),
        (report_path(letter, heron), "[1, 2]", 400, "bad_request"),
        (report_path(letter, elsewhere), {"reason": "abuse"}, 404, "not_found"),
        (report_path(letter, wren), {"reason": "abuse"}, 404, "not_found"),
        (
            f"/api/v1/letters/{letter.slug}/signatures/00000000-0000-4000-8000-000000000000/reports",
            {"reason": "abuse"},
            404,
            "not_found",
        ),
        (
            f"/api/v1/letters/nope/signatures/{heron.pk}/reports",
            {"reason": "abuse"},
            404,
            "not_found",
        ),
    ]
    for path, data, status, code in cases:
        got, body = post_json(Client(), path, data)
        assert (got, body["error"]) == (status, code), (path, data, body)
        assert body["message"]
    response = Client().get(report_path(letter, heron))
    assert response.status_code == 405
    assert not SignatureReport.objects.exists()

    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    ((held, _r),) = sealed_signatures(letter, {"pseudonym": "Tim Cook"})
    status, body = post_json(Client(), report_path(letter, held), {"reason": "abuse"})
    assert (status, body["error"]) == (409, "conflict")


def test_reports_of_an_unlisted_letter_need_its_key(letter):
    unlisted = open_letter(letter.campaign, visibility="unlisted")
    ((sig, _r),) = sealed_signatures(unlisted, {"pseudonym": "Heron"})
    path = report_path(unlisted, sig)
    assert post_json(Client(), path, {"reason": "abuse"})[0] == 404
    assert (
        post_json(Client(), f"{path}?key={unlisted.unlisted_token}", {"reason": "abuse"})[0] == 201
    )


def test_reports_are_rate_limited_per_client(letter, signed):
    from core.ratelimit import DEFAULT_RATE_LIMITS

    heron, _r = signed["Heron"]
    limit = DEFAULT_RATE_LIMITS["report"][0]
    one, another = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.2")
    for _ in range(limit):
        assert post_json(one, report_path(letter, heron), {"reason": "spam"})[0] == 201
    status, body = post_json(one, report_path(letter, heron), {"reason": "spam"})
    assert (status, body["error"]) == (429, "rate_limited")
    assert post_json(another, report_path(letter, heron), {"reason": "spam"})[0] == 201
    assert SignatureReport.objects.count() == limit + 1


def test_reports_pause_while_redis_is_down(settings, letter, signed):
    from tests.support.services import unreachable_redis

    heron, _r = signed["Heron"]
    unreachable_redis(settings)
    response = Client().post(
        report_path(letter, heron), data={"reason": "abuse"}, content_type="application/json"
    )
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert not SignatureReport.objects.exists()


# --- what waits for the organizers ---------------------------------------------------


def render_tag(text: str, **context) -> str:
    return Template("{% load moderation_tags %}" + text).render(Context(context))


def test_the_waiting_tag_counts_reports_and_holds_per_campaign_and_letter(letter, roles, signed):
    from organizing.models import Membership

    assert render_tag("{% moderation_waiting campaign %}", campaign=letter.campaign) == ""
    heron, _r = signed["Heron"]
    for _ in range(2):
        post_json(Client(), report_path(letter, heron), {"reason": "abuse"})
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    sealed_signatures(letter, {"pseudonym": "Tim Cook"})
    other = open_letter(letter.campaign)
    html = render_tag("{% moderation_waiting campaign %}", campaign=letter.campaign)
    assert f'href="/c/{letter.campaign.slug}/manage/moderation/"' in html
    assert "1 reported signature" in html and "1 signature&#x27;s text held for review" in html
    html = render_tag(
        "{% moderation_waiting campaign as w %}{{ w.count }} {{ w.reported }} {{ w.held }}",
        campaign=letter.campaign,
    )
    assert html == "2 1 1"
    html = render_tag("{% moderation_waiting letter %}", letter=letter)
    assert f"?letter={letter.pk}" in html
    # The overview's "Waiting for you" list: the object renders as its link.
    html = render_tag(
        "{% moderation_waiting letter as w %}{% if w %}<li>{{ w }}</li>{% endif %}", letter=letter
    )
    assert html.startswith('<li><a class="moderation-waiting" href="/c/acme/manage/moderation/?')
    assert render_tag("{% moderation_waiting letter %}", letter=other) == ""
    # Delegates do not moderate: nothing waits for them.
    delegate = Membership.objects.get(user=roles.delegate, campaign=letter.campaign)
    html = render_tag(
        "{% moderation_waiting campaign as w %}[{% if w %}{{ w.count }}{% endif %}]",
        campaign=letter.campaign,
        membership=delegate,
    )
    assert html == "[]"
    # The other campaign has none of it.
    assert render_tag("{% moderation_waiting campaign %}", campaign=roles.other_campaign) == ""


def test_the_log_entry_never_changes(letter, roles, signed):
    heron, _r = signed["Heron"]
    before = logged_entries(letter)
    signature_hide(
        actor=roles.organizer, signature=heron, fields=list(MODERATED_FIELDS), reason="abuse"
    )
    assert logged_entries(letter) == before
    checkpoint = Client().get(f"/log/{letter.slug}/checkpoint").content
    assert base64.b64decode(checkpoint.decode().split("\n")[2])
