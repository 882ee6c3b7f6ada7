"""The moderation pages for every role, and their refusals of bad input:
the organizers' queue, one signature's page, show again, dismiss, the hold
list; the public report page and the public list's links."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from organizing.models import AuditEntry
from signatures.models import HoldList, ReportStatus, SignatureModeration, SignatureReport
from signatures.services.moderation import hold_list_update, signature_hide
from tests.signatures.factories import open_letter, sealed_signatures
from tests.signatures.helpers import post_json
from tests.signatures.test_views import assert_no_inline_code

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]
REFUSED = {"anonymous": 302, "member": 403, "delegate": 403, "other_organizer": 403}


@pytest.fixture
def heron(letter):
    ((sig, _receipt),) = sealed_signatures(
        letter, {"pseudonym": "Heron", "comment": "Our manager Bo is a thief."}
    )
    return sig


def pages(sig) -> dict[str, str]:
    base = "/c/acme/manage/moderation/"
    return {
        "queue": base,
        "signature": f"{base}{sig.pk}/",
        "hold_list": f"{base}hold-list/",
    }


def actions(sig) -> dict[str, tuple[str, dict]]:
    base = f"/c/acme/manage/moderation/{sig.pk}/"
    return {
        "hide": (base, {"hide": ["comment"], "reason": "abuse", "note": ""}),
        "show": (f"{base}show/", {}),
        "dismiss": (f"{base}dismiss/", {}),
        "hold_list": ("/c/acme/manage/moderation/hold-list/", {"terms": "Tim Cook"}),
    }


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("page", ["queue", "signature", "hold_list"])
def test_moderation_pages_are_the_organizers(roles, client_for, heron, who, page):
    response = client_for(roles.users()[who]).get(pages(heron)[page])
    if who == "organizer":
        assert response.status_code == 200
        html = response.content.decode()
        assert_no_inline_code(html)
        assert "private" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    else:
        assert response.status_code == REFUSED[who]
        if who == "anonymous":
            assert response["Location"].startswith("/accounts/login/")
        assert b"Our manager Bo" not in response.content


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("action", ["hide", "show", "dismiss", "hold_list"])
def test_moderation_actions_are_the_organizers(roles, client_for, heron, who, action):
    signature_hide(actor=roles.organizer, signature=heron, fields=["pseudonym"], reason="spam")
    SignatureReport.objects.create(signature=heron, reason="abuse")
    before = (
        list(SignatureModeration.objects.values()),
        list(SignatureReport.objects.values()),
        list(HoldList.objects.values()),
    )
    path, data = actions(heron)[action]
    response = client_for(roles.users()[who]).post(path, data)
    after = (
        list(SignatureModeration.objects.values()),
        list(SignatureReport.objects.values()),
        list(HoldList.objects.values()),
    )
    if who == "organizer":
        assert response.status_code == 302, response.content[:300]
        assert after != before
    else:
        assert response.status_code == REFUSED[who]
        assert after == before


def test_another_campaigns_organizer_cannot_reach_a_signature_through_their_own_campaign(
    roles, client_for, heron
):
    client = client_for(roles.other_organizer)
    assert client.get(f"/c/other/manage/moderation/{heron.pk}/").status_code == 404
    for suffix in ("show/", "dismiss/", ""):
        response = client.post(
            f"/c/other/manage/moderation/{heron.pk}/{suffix}",
            {"hide": ["comment"], "reason": "abuse"},
        )
        assert response.status_code == 404
    assert not SignatureModeration.objects.exists()
    # Their own queue knows nothing of it.
    html = client.get("/c/other/manage/moderation/?q=Heron").content.decode()
    assert "Our manager Bo" not in html and "moderation-item" not in html


def test_the_organizer_works_the_queue(roles, client_for, letter, heron):
    client = client_for(roles.organizer)
    for _ in range(2):
        post_json(
            Client(),
            f"/api/v1/letters/{letter.slug}/signatures/{heron.pk}/reports",
            {"reason": "abuse", "note": "He names Bo."},
        )
    html = client.get("/c/acme/manage/moderation/").content.decode()
    assert f'id="reported-{heron.pk}"' in html
    assert "2 reports waiting" in html and "He names Bo." in html and "(×2)" in html

    response = client.post(
        f"/c/acme/manage/moderation/{heron.pk}/",
        {"hide": ["comment"], "reason": "personal", "note": "It names a colleague."},
    )
    assert response.status_code == 302 and response["Location"] == "/c/acme/manage/moderation/"
    moderation = SignatureModeration.objects.get()
    assert moderation.hidden_fields == ("comment",) and moderation.note == "It names a colleague."
    assert set(SignatureReport.objects.values_list("status", flat=True)) == {ReportStatus.UPHELD}
    html = client.get("/c/acme/manage/moderation/").content.decode()
    assert f'id="hidden-{heron.pk}"' in html and "No report waits." in html

    # "Hide all" hides every field whatever is ticked.
    client.post(f"/c/acme/manage/moderation/{heron.pk}/", {"reason": "abuse", "all": "1"})
    assert len(SignatureModeration.objects.get().hidden_fields) == 5

    assert client.post(f"/c/acme/manage/moderation/{heron.pk}/show/").status_code == 302
    assert not SignatureModeration.objects.exists()
    assert list(
        AuditEntry.objects.filter(action__startswith="signature.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["signature.hide", "signature.hide", "signature.show"]


def test_the_queue_filters_by_letter_and_finds_by_text(roles, client_for, letter, heron):
    other = open_letter(letter.campaign, slug="second")
    ((elsewhere, _r),) = sealed_signatures(other, {"pseudonym": "Kestrel", "comment": "Bo again"})
    for sig in (heron, elsewhere):
        SignatureReport.objects.create(signature=sig, reason="abuse")
    client = client_for(roles.organizer)
    html = client.get(f"/c/acme/manage/moderation/?letter={other.pk}").content.decode()
    assert f"reported-{elsewhere.pk}" in html and f"reported-{heron.pk}" not in html
    html = client.get("/c/acme/manage/moderation/?q=bo").content.decode()
    assert "Signatures with “bo”" in html and html.count("moderation-item") >= 4
    html = client.get("/c/acme/manage/moderation/?q=nothing-like-it").content.decode()
    assert "No signature&#x27;s pseudonym or comment contains this." in html or (
        "No signature's pseudonym or comment contains this." in html
    )


def test_organizers_see_no_more_than_the_public_would(roles, client_for, letter):
    """A name below its threshold and a group under k stay out of the
    moderation pages too; a held one says which field matched which term."""
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    ((sig, _r),) = sealed_signatures(
        letter,
        {"pseudonym": "Heron", "public_name": "Tim Cook", "reveal_at": 500, "department": "Board"},
    )
    client = client_for(roles.organizer)
    for path in ("/c/acme/manage/moderation/", f"/c/acme/manage/moderation/{sig.pk}/"):
        html = client.get(path).content.decode()
        assert "Heron" in html
        assert "Board" not in html
        assert "its public name contains “Tim Cook”" in html
        # The term shows (it is the organizers' own), not the name typed.
        assert html.count("Tim Cook") == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("letter=abc", 400),
        ("letter=99999999", 404),
        ("letter=1234567890123", 400),
        ("q=" + "x" * 81, 400),
        ("q=a%E2%80%AEb", 400),
        ("q=%00", 400),
    ],
)
def test_the_queue_refuses_bad_parameters(roles, client_for, heron, query, status):
    response = client_for(roles.organizer).get(f"/c/acme/manage/moderation/?{query}")
    assert response.status_code == status


def test_the_queue_refuses_another_campaigns_letter(roles, client_for, heron):
    theirs = open_letter(roles.other_campaign)
    response = client_for(roles.organizer).get(f"/c/acme/manage/moderation/?letter={theirs.pk}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"reason": "abuse"},  # nothing ticked
        {"hide": ["email"], "reason": "abuse"},
        {"hide": ["comment"], "reason": "because"},
        {"hide": ["comment"]},
        {"hide": ["comment"], "reason": "abuse", "note": "x" * 501},
        {"hide": ["comment"], "reason": "abuse", "note": "a\u202eb"},
    ],
)
def test_hiding_refuses_bad_input_with_a_400(roles, client_for, heron, data):
    response = client_for(roles.organizer).post(f"/c/acme/manage/moderation/{heron.pk}/", data)
    assert response.status_code == 400
    assert b'class="error"' in response.content or b'class="errors"' in response.content
    assert not SignatureModeration.objects.exists()


def test_unknown_signatures_and_wrong_methods(roles, client_for, heron, letter):
    client = client_for(roles.organizer)
    unknown = uuid.uuid4()
    assert client.get(f"/c/acme/manage/moderation/{unknown}/").status_code == 404
    assert client.post(f"/c/acme/manage/moderation/{unknown}/show/").status_code == 404
    assert client.get(f"/c/acme/manage/moderation/{heron.pk}/show/").status_code == 405
    assert client.get(f"/c/acme/manage/moderation/{heron.pk}/dismiss/").status_code == 405
    assert client.post("/c/acme/manage/moderation/").status_code == 405
    assert client.get("/c/acme/manage/moderation/not-a-uuid/").status_code == 404
    # A withdrawn signature is no longer anyone's to moderate.
    heron.withdrawn = True
    heron.save()
    assert client.get(f"/c/acme/manage/moderation/{heron.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ("Al", "too short"),
        ("\n".join(f"Name {i:03d}" for i in range(201)), "at most 200"),
        ("a\u202eb c d", "invisible character"),
    ],
)
def test_the_hold_list_page_refuses_bad_lists(roles, client_for, terms, message):
    response = client_for(roles.organizer).post(
        "/c/acme/manage/moderation/hold-list/", {"terms": terms}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not HoldList.objects.exists()


def test_the_hold_list_page_saves_and_shows_the_list(roles, client_for):
    client = client_for(roles.organizer)
    response = client.post("/c/acme/manage/moderation/hold-list/", {"terms": "Tim Cook\nDana Lee"})
    assert response.status_code == 302
    assert HoldList.objects.get().terms == ["Tim Cook", "Dana Lee"]
    html = client.get("/c/acme/manage/moderation/hold-list/").content.decode()
    assert "Tim Cook\nDana Lee" in html
    assert client.get("/c/acme/manage/moderation/").content.decode().count("(2)") >= 1


# --- the public side -----------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
def test_anyone_reports_from_the_public_list(roles, client_for, letter, heron, who):
    client = client_for(roles.users()[who])
    html = client.get(f"/letters/{letter.slug}/signatures/").content.decode()
    report = f"/letters/{letter.slug}/signatures/{heron.pk}/report/"
    assert f'href="{report}"' in html
    # Only the campaign's organizers are offered to moderate.
    moderate = f'href="/c/acme/manage/moderation/{heron.pk}/"'
    assert (moderate in html) == (who == "organizer")
    response = client.get(report)
    assert response.status_code == 200
    assert_no_inline_code(response.content.decode())
    assert "Our manager Bo is a thief." in response.content.decode()
    response = client.post(report, {"reason": "personal", "note": "Bo is my colleague."})
    assert response.status_code == 302
    assert response["Location"] == f"/letters/{letter.slug}/signatures/"
    report_row = SignatureReport.objects.get()
    assert (report_row.reason, report_row.note) == ("personal", "Bo is my colleague.")
    page = client.get(response["Location"]).content.decode()
    assert "Thank you: the organizers will look at it." in page


def test_the_report_page_refuses_bad_input(client_for, letter, heron, roles):
    client = Client()
    report = f"/letters/{letter.slug}/signatures/{heron.pk}/report/"
    for data in ({}, {"reason": "nope"}, {"reason": "abuse", "note": "x" * 501}, {"note": "hi"}):
        response = client.post(report, data)
        assert response.status_code == 400 and b'role="alert"' in response.content
    assert (
        client.get(f"/letters/{letter.slug}/signatures/{uuid.uuid4()}/report/").status_code == 404
    )
    assert client.get(f"/letters/nope/signatures/{heron.pk}/report/").status_code == 404
    assert client.put(report).status_code == 405
    assert not SignatureReport.objects.exists()
    # Held text cannot be reported: it is not shown.
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    ((held, _r),) = sealed_signatures(letter, {"pseudonym": "Tim Cook"})
    held_report = f"/letters/{letter.slug}/signatures/{held.pk}/report/"
    response = client.get(held_report)
    assert response.status_code == 200 and b"already waits for the organizers" in response.content
    assert b"<form" not in response.content.split(b"<main", 1)[1]
    assert client.post(held_report, {"reason": "abuse"}).status_code == 409


def test_the_report_page_of_an_unlisted_letter_carries_its_key(client_for, letter):
    unlisted = open_letter(letter.campaign, visibility="unlisted")
    ((sig, _r),) = sealed_signatures(unlisted, {"pseudonym": "Heron"})
    key = unlisted.unlisted_token
    html = Client().get(f"/letters/{unlisted.slug}/signatures/?key={key}").content.decode()
    report = f"/letters/{unlisted.slug}/signatures/{sig.pk}/report/"
    assert f'href="{report}?key={key}"' in html
    assert Client().get(report).status_code == 404
    response = Client().post(f"{report}?key={key}", {"reason": "spam"})
    assert response.status_code == 302 and response["Location"].endswith(f"?key={key}")


def test_the_report_page_is_rate_limited(settings, client_for, letter, heron):
    settings.SIGNATURES_RATE_LIMITS = {"report": (2, 3600)}
    report = f"/letters/{letter.slug}/signatures/{heron.pk}/report/"
    client = Client()
    assert client.post(report, {"reason": "spam"}).status_code == 302
    assert client.post(report, {"reason": "spam"}).status_code == 302
    response = client.post(report, {"reason": "spam"})
    assert response.status_code == 429 and b"Too many requests" in response.content
    assert SignatureReport.objects.count() == 2


@pytest.mark.parametrize("who", ["organizer", "delegate"])
def test_the_manage_page_links_to_moderation_with_what_waits(roles, client_for, letter, heron, who):
    SignatureReport.objects.create(signature=heron, reason="abuse")
    hold_list_update(actor=roles.organizer, campaign=letter.campaign, terms="Tim Cook")
    sealed_signatures(letter, {"pseudonym": "Tim Cook"})
    response = client_for(getattr(roles, who)).get("/c/acme/manage/")
    html = response.content.decode()
    if who == "delegate":  # the overview shows delegates their part, not moderation
        assert response.status_code == 200
        assert "/manage/moderation/" not in html
        return
    assert '<a href="/c/acme/manage/moderation/">Moderation</a> (2)' in html
    # The letter's own "waiting for you" list names it too, with its link.
    waiting = html[html.index("Waiting for you:") :]
    waiting = waiting[: waiting.index("</ul>")]
    assert 'class="moderation-waiting"' in waiting and "/manage/moderation/" in waiting
