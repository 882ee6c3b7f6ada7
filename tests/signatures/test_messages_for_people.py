"""What the signing API says to the person at the page (issue 16, items 5
and 7): refusals in words, never a JSON key such as “pseudonym” or
reveal_at, while the JSON error codes stay what clients parse; and the code
email, which the employer's mail system reads, names no letter or campaign."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from letters.forms import LetterCreateForm
from signatures.services.common import b64url_encode
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient, post_json

pytestmark = pytest.mark.django_db

# A quoted lower-case identifier (“pseudonym”, “proof.type”) or a snake_case word.
RAW_FIELD = re.compile(r"“[a-z_.]+”|\b[a-z]+_[a-z_]+\b")
TITLE = "Stop logging our keystrokes"


@pytest.fixture
def api(letter) -> SigningClient:
    return SigningClient(Client(), letter.slug)


@pytest.fixture
def token(letter, api):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    return api.token({"type": "invite_code", "code": code})


def get_json(client, path: str) -> tuple[int, dict]:
    response = client.get(path)
    return response.status_code, response.json()


def refusals(api, token, attestation_ids) -> dict[str, tuple[int, dict]]:
    def sign(**fields):
        return api.sign(token, attestations=attestation_ids, **fields)

    tokens = f"/api/v1/letters/{api.slug}/tokens"
    blinded = b64url_encode(api.blind()[1])
    return {
        "no pseudonym": sign(pseudonym="  "),
        "pseudonym too long": sign(pseudonym="x" * 61),
        "pseudonym with an override": sign(pseudonym="Ann\u202eLee"),
        "department too long": sign(department="d" * 81),
        "comment too long": sign(comment="c" * 1001),
        "reveal without a name": sign(reveal_at=10),
        "reveal at zero": sign(public_name="Ann Lee", reveal_at=0),
        "reveal not a number": sign(public_name="Ann Lee", reveal_at="ten"),
        "a statement missing": api.sign(token, attestations=attestation_ids[:1]),
        "statements unreadable": api.sign(token, attestations="all"),
        "no email code": api.request_token(
            {"type": "email_code", "email": "ann@example.com", "code": ""}
        )[:2],
        "no email address": api.request_token({"type": "email_code", "email": 7, "code": "1"})[:2],
        "no invite code": api.request_token({"type": "invite_code", "code": " "})[:2],
        "bad invite code": api.request_token({"type": "invite_code", "code": "nope"})[:2],
        "no proof": post_json(api.client, tokens, {"blinded_msg": blinded}),
        "unknown proof": post_json(
            api.client, tokens, {"blinded_msg": blinded, "proof": {"type": "face"}}
        ),
        "damaged blinded token": post_json(
            api.client, tokens, {"blinded_msg": "+/", "proof": {"type": "invite_code"}}
        ),
        "no blinded token": post_json(api.client, tokens, {"proof": {"type": "invite_code"}}),
        "short blinded token": post_json(
            api.client, tokens, {"blinded_msg": "AAAA", "proof": {"type": "invite_code"}}
        ),
        "empty receipt": post_json(api.client, "/api/v1/receipts/status", {"receipt": ""}),
        "unknown receipt": post_json(api.client, "/api/v1/receipts/status", {"receipt": "r" * 43}),
        "bad signature page": get_json(
            api.client, f"/api/v1/letters/{api.slug}/signatures?page=99"
        ),
    }


# The codes and statuses clients parse: unchanged by the new wording.
EXPECTED = {
    "no pseudonym": (400, "bad_request"),
    "pseudonym too long": (400, "bad_request"),
    "pseudonym with an override": (400, "bad_request"),
    "department too long": (400, "bad_request"),
    "comment too long": (400, "bad_request"),
    "reveal without a name": (400, "bad_request"),
    "reveal at zero": (400, "bad_request"),
    "reveal not a number": (400, "bad_request"),
    "a statement missing": (403, "forbidden"),
    "statements unreadable": (400, "bad_request"),
    "no email code": (403, "forbidden"),
    "no email address": (400, "bad_request"),
    "no invite code": (403, "forbidden"),
    "bad invite code": (403, "forbidden"),
    "no proof": (400, "bad_request"),
    "unknown proof": (400, "bad_request"),
    "damaged blinded token": (400, "bad_request"),
    "no blinded token": (400, "bad_request"),
    "short blinded token": (400, "bad_request"),
    "empty receipt": (400, "bad_request"),
    "unknown receipt": (404, "not_found"),
    "bad signature page": (400, "bad_request"),
}


def test_refusals_speak_to_people_and_keep_their_codes(api, token, attestation_ids, settings):
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(
        ["email_code", "token", "invite_code", "signature", "receipt"]
    )
    answers = refusals(api, token, attestation_ids)
    assert {reason: (status, body["error"]) for reason, (status, body) in answers.items()} == (
        EXPECTED
    )
    raw = {
        reason: body["message"]
        for reason, (_status, body) in answers.items()
        if RAW_FIELD.search(body["message"])
    }
    assert raw == {}
    messages = {reason: body["message"] for reason, (_status, body) in answers.items()}
    assert messages["no pseudonym"].startswith("Choose a pseudonym")
    assert messages["pseudonym too long"] == "“Pseudonym” is longer than 60 characters."
    assert messages["no email code"] == "Type the code from the email."
    assert messages["no invite code"] == "Type the invite code you were given."
    assert messages["empty receipt"].startswith("Paste the receipt")
    # The token was not spent by any of it.
    assert api.sign(token, attestations=attestation_ids)[0] == 201


def test_the_code_email_names_no_letter_and_no_campaign(roles):
    campaign = roles.campaign
    campaign.allowed_domains = ["example.com"]
    campaign.employer_name = "Acme Logistics"
    campaign.save()
    letter = open_letter(campaign, slug="stop-logging", title=TITLE)
    status, _body = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "ann@example.com"}
    )
    assert status == 202
    (message,) = mail.outbox
    assert message.subject == "Your verification code"
    assert re.search(r"Your code: \d{4} \d{4}\n", message.body)
    for revealing in (TITLE, "keystrokes", campaign.name, "Acme", letter.slug, "sign", "letter"):
        assert revealing.lower() not in message.subject.lower(), revealing
        assert revealing.lower() not in message.body.lower(), revealing


def test_a_bad_short_name_is_explained_without_jargon():
    form = LetterCreateForm(data={"title": "A letter", "slug": "not a slug!"})
    assert not form.is_valid()
    (message,) = form.errors["slug"]
    assert "“slug”" not in message and "short name" in message
