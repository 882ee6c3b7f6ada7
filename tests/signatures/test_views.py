"""Pages: the signing page, receipts, the public list and the organizers'
invite-code and attestation pages, for every role."""

from __future__ import annotations

import re

import pytest

from letters.models import LetterState
from organizing.models import AuditEntry
from signatures.models import Attestation, InviteCode
from signatures.services.eligibility import (
    invite_code_hmac,
    invite_code_normalize,
    invite_codes_create,
)
from tests.signatures.factories import open_letter
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]


def assert_no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert " style=" not in html and "onclick=" not in html


@pytest.mark.parametrize("who", ROLES)
def test_signing_page_is_public(letter, roles, client_for, who):
    response = client_for(roles.users()[who]).get(f"/letters/{letter.slug}/sign/")
    assert response.status_code == 200
    html = response.content.decode()
    assert_no_inline_code(html)
    assert "<noscript>" in html and "needs JavaScript" in html
    assert "Protect yourself" in html  # the device / work-email notice
    assert 'src="/static/vendor/blindrsa.js"' in html and 'src="/static/js/sign.js"' in html
    assert letter.issuer_key.key_id in html
    assert 'data-text-hash="' + letter.text_hash in html
    assert "I am not a manager" in html
    # Only a member with a verified work address is offered the account route.
    assert 'value="account"' not in html


def test_signing_page_offers_the_account_route_to_members(letter, client_for):
    user = make_user(email="zed@example.com")
    MembershipFactory(campaign=letter.campaign, user=user)
    html = client_for(user).get(f"/letters/{letter.slug}/sign/").content.decode()
    assert 'value="account"' in html


def test_signing_page_of_closed_draft_and_unlisted_letters(letter, client_for):
    letter.state = LetterState.CLOSED
    letter.save()
    response = client_for(None).get(f"/letters/{letter.slug}/sign/")
    assert response.status_code == 200 and b"not open for signatures" in response.content
    assert b'id="sign-app"' not in response.content
    draft = open_letter(letter.campaign, state=LetterState.DRAFT, with_key=False)
    assert client_for(None).get(f"/letters/{draft.slug}/sign/").status_code == 404
    unlisted = open_letter(letter.campaign, visibility="unlisted")
    assert client_for(None).get(f"/letters/{unlisted.slug}/sign/").status_code == 404
    response = client_for(None).get(f"/letters/{unlisted.slug}/sign/?key={unlisted.unlisted_token}")
    assert response.status_code == 200
    assert f"key={unlisted.unlisted_token}" in response.content.decode()


@pytest.mark.parametrize("who", ROLES)
def test_receipt_and_list_pages_are_public(letter, roles, client_for, who):
    client = client_for(roles.users()[who])
    response = client.get("/receipts/")
    assert response.status_code == 200
    assert_no_inline_code(response.content.decode())
    response = client.get(f"/letters/{letter.slug}/signatures/")
    assert response.status_code == 200 and b"No signatures yet" in response.content
    assert client.get(f"/letters/{letter.slug}/signatures/?page=9").status_code == 400


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "path",
    [
        "/c/acme/invite-codes/",
        "/c/acme/invite-codes/revoke/",
        "/c/acme/invite-codes/revoke-batch/",
        "/c/acme/attestations/",
        "/c/acme/attestations/{attestation}/toggle/",
    ],
)
def test_organizer_pages_are_for_the_campaigns_organizers(
    letter, roles, client_for, who, method, path
):
    attestation = Attestation.objects.filter(campaign=roles.campaign).first()
    url = path.format(attestation=attestation.pk)
    before = (InviteCode.objects.count(), Attestation.objects.filter(active=True).count())
    response = getattr(client_for(roles.users()[who]), method)(url, {"count": "2", "text": "x"})
    if who == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif who == "organizer":
        post_only = "revoke" in url or "toggle" in url
        if method == "get" and post_only:
            assert response.status_code == 405
        else:
            assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403
    if who != "organizer":
        assert (
            InviteCode.objects.count(),
            Attestation.objects.filter(active=True).count(),
        ) == before


def test_organizer_without_mfa_is_sent_to_set_it_up(letter, roles, client_for):
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=roles.organizer).delete()
    response = client_for(roles.organizer).get("/c/acme/invite-codes/")
    assert response.status_code == 403


def test_organizer_creates_codes_shown_once_and_revokes_them(letter, roles, client_for):
    client = client_for(roles.organizer)
    response = client.post("/c/acme/invite-codes/", {"count": "3", "batch": "night shift"})
    assert response.status_code == 200
    html = response.content.decode()
    assert_no_inline_code(html)
    codes = re.findall(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b", html)
    assert len(set(codes)) == 3
    assert response["Cache-Control"].startswith("max-age=0")
    # Shown once: the next visit lists the batch, not the codes.
    html = client.get("/c/acme/invite-codes/").content.decode()
    assert "night shift" in html and codes[0] not in html
    # Revoke one by typing it, then the rest of the batch.
    client.post("/c/acme/invite-codes/revoke/", {"code": codes[0].lower()})
    revoked = InviteCode.objects.get(code_hmac=invite_code_hmac(invite_code_normalize(codes[0])))
    assert revoked.revoked
    client.post("/c/acme/invite-codes/revoke-batch/", {"batch": "night shift"})
    assert InviteCode.objects.filter(revoked=False).count() == 0
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions.count("invite_codes.revoke") == 2 and "invite_codes.create" in actions
    for entry in AuditEntry.objects.all():
        assert not any(code in entry.summary for code in codes)


def test_invite_code_form_errors_are_400(letter, roles, client_for):
    client = client_for(roles.organizer)
    for data in (
        {"count": "0"},
        {"count": "x"},
        {"count": "99999"},
        {"count": "2", "batch": "b" * 81},
    ):
        assert client.post("/c/acme/invite-codes/", data).status_code == 400
    assert InviteCode.objects.count() == 0
    assert client.post("/c/acme/invite-codes/revoke/", {"code": ""}).status_code == 302
    assert client.post("/c/acme/invite-codes/revoke-batch/", {"batch": "b" * 81}).status_code == 400


def test_organizer_manages_attestations(letter, roles, client_for):
    client = client_for(roles.organizer)
    response = client.post("/c/acme/attestations/", {"text": "I do not manage people"})
    assert response.status_code == 302
    added = Attestation.objects.get(text="I do not manage people")
    assert added.active
    assert client.post("/c/acme/attestations/", {"text": ""}).status_code == 400
    assert client.post("/c/acme/attestations/", {"text": "bad\x00"}).status_code == 400
    client.post(f"/c/acme/attestations/{added.pk}/toggle/")
    added.refresh_from_db()
    assert not added.active
    other = Attestation.objects.create(campaign=roles.other_campaign, text="elsewhere")
    assert client.post(f"/c/acme/attestations/{other.pk}/toggle/").status_code == 404
    html = client.get("/c/acme/attestations/").content.decode()
    assert "I do not manage people" in html and "I work here" in html
    assert_no_inline_code(html)


def test_invite_codes_page_codes_work_for_signing(letter, roles):
    codes = invite_codes_create(actor=roles.organizer, campaign=roles.campaign, count=1)
    assert InviteCode.objects.filter(
        code_hmac=invite_code_hmac(invite_code_normalize(codes[0]))
    ).exists()


def test_manage_page_links_to_the_signing_pages(letter, roles, client_for):
    html = client_for(roles.organizer).get("/c/acme/manage/").content.decode()
    assert 'href="/c/acme/invite-codes/"' in html and 'href="/c/acme/attestations/"' in html
