"""Signing with Redis unreachable (docs/operations.md, "When Redis is down").

What rests on the database keeps working: the letter's pages and API, token
issuance and redemption (one person, one signature are unique constraints,
not counters), receipts. What Redis protects answers 503 with Retry-After:
sending email codes, whose only brake against mailing a whole company is a
counter in Redis.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from signatures.models import EmailCode, Issuance, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.helpers import SigningClient, Token, post_json
from tests.support.services import unreachable_redis

pytestmark = pytest.mark.django_db


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.content
    assert int(response["Retry-After"]) > 0
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["error"] == "unavailable"
    assert "try again" in body["message"]


def test_pages_and_api_that_read_the_database_keep_working(letter, redis_down):
    client = Client()
    for path in (
        f"/letters/{letter.slug}/",
        f"/letters/{letter.slug}/sign/",
        f"/letters/{letter.slug}/signatures/",
        "/receipts/",
        "/api/v1/letters/",
        f"/api/v1/letters/{letter.slug}",
        f"/api/v1/letters/{letter.slug}/signatures",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/api/v1/letters/{letter.slug}").json()["count"] == 0


def test_invite_code_signing_and_receipts_rest_on_the_database(letter, attestation_ids, redis_down):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    token = api.token({"type": "invite_code", "code": code})
    # One token per person: the unique issuance row refuses a second one,
    # with or without the rate limit's counter.
    status, body, _token = api.request_token({"type": "invite_code", "code": code})
    assert status == 409 and body["error"] == "already_issued"
    status, body = api.sign(token, pseudonym="Blue Finch", attestations=attestation_ids)
    assert status == 201, body
    receipt = body["receipt"]
    # One signature per token: the unique token hash.
    status, body = api.sign(token, attestations=attestation_ids)
    assert status == 409 and body["error"] == "already_spent"
    # A forged token is refused as always: the failed submissions' counter is
    # unreachable, but it is not what stops forgeries.
    prepared, _blinded, _inv = api.blind()
    status, body = api.sign(Token(prepared, b"\x01" * 256), attestations=attestation_ids)
    assert status == 403, body
    assert Issuance.objects.count() == 1 and Signature.objects.count() == 1

    status, state = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert status == 200 and state["status"] == "counted"
    status, state = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": receipt})
    assert status == 200 and state["status"] == "withdrawn"
    assert Signature.objects.get().withdrawn is True
    # The public figures come from the database, not from a stale cache.
    assert Client().get(f"/api/v1/letters/{letter.slug}").json()["count"] == 0


def test_sending_email_codes_pauses_with_a_503(letter, redis_down):
    """Fails closed: without its counters the endpoint would mail a code to
    every address an attacker types, flooding colleagues' work inboxes and
    showing the employer's mail system a code "to sign" for each of them."""
    response = Client().post(
        f"/api/v1/letters/{letter.slug}/email-codes",
        data='{"email": "ann@example.com"}',
        content_type="application/json",
    )
    assert_unavailable_json(response)
    assert mail.outbox == []
    assert not EmailCode.objects.exists()


def test_a_code_sent_before_the_outage_still_buys_a_token(letter, attestation_ids, settings):
    """...and guessing it stays bounded by the database: each code allows five
    attempts, claimed by a conditional UPDATE, whatever the token endpoint's
    per-client counter says."""
    status, _ = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "ann@example.com"}
    )
    assert status == 202
    code = last_code("ann@example.com")
    unreachable_redis(settings)
    api = SigningClient(Client(), letter.slug)
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        status, body, _token = api.request_token(
            {"type": "email_code", "email": "ann@example.com", "code": wrong}
        )
        assert status == 403, body
    status, body, _token = api.request_token(
        {"type": "email_code", "email": "ann@example.com", "code": code}
    )
    assert status == 403, body  # the attempts are used up
    assert not Issuance.objects.exists()


def test_a_code_sent_before_the_outage_signs(letter, attestation_ids, settings):
    status, _ = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "bo@example.com"}
    )
    assert status == 202
    code = last_code("bo@example.com")
    unreachable_redis(settings)
    api = SigningClient(Client(), letter.slug)
    token = api.token({"type": "email_code", "email": "bo@example.com", "code": code})
    assert api.sign(token, attestations=attestation_ids)[0] == 201
