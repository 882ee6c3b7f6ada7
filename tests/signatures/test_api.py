"""The signing API end to end with the Python client, and its error cases."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from django.core import mail
from django.test import Client
from django.utils import timezone

from letters.models import LetterState, Visibility
from signatures.api import signing_letters_forget
from signatures.models import EmailCode, InviteCode, Issuance, Signature
from signatures.selectors import letter_figures_forget
from signatures.services.common import b64url_encode
from signatures.services.eligibility import invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient, Token, post_json
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db


def email_token(api: SigningClient, address: str) -> Token:
    status, body = post_json(
        api.client, f"/api/v1/letters/{api.slug}/email-codes", {"email": address}
    )
    assert status == 202, body
    return api.token({"type": "email_code", "email": address, "code": last_code(address)})


# --- the happy paths ---------------------------------------------------------------


def test_letter_detail_lists_what_a_client_needs(letter, attestation_ids):
    body = Client().get(f"/api/v1/letters/{letter.slug}").json()
    assert body["slug"] == letter.slug
    assert body["text_sha256"] == letter.text_hash
    assert body["eligibility"] == ["email_code", "invite_code"]
    assert [a["id"] for a in body["attestations"]] == attestation_ids
    assert body["issuer"]["key_id"] == letter.issuer_key.key_id
    assert body["issuer"]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert body["issuer"]["variant"] == "RSABSSA-SHA384-PSS-Randomized"
    assert body["count"] == 0 and body["tokens_issued"] == 0 and body["goal"] == 100
    listed = Client().get("/api/v1/letters/").json()["letters"]
    assert [item["slug"] for item in listed] == [letter.slug]


def test_email_code_route_end_to_end(letter, attestation_ids):
    api = SigningClient(Client(), letter.slug)
    token = email_token(api, "Ann.Lee@EXAMPLE.com")
    # The address was used to send, then forgotten: only HMACs are stored.
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann.lee@example.com"]
    assert "ann" not in Issuance.objects.get().identity_hmac.lower()
    assert not EmailCode.objects.exists()  # the used code is deleted
    status, body = api.sign(token, pseudonym="Quiet Heron", attestations=attestation_ids)
    assert status == 201, body
    signature = Signature.objects.get(pk=body["id"])
    assert signature.pseudonym == "Quiet Heron"
    assert signature.attestations == sorted(attestation_ids)
    assert signature.receipt_hash != body["receipt"] and len(body["receipt"]) >= 40
    assert signature.signed_hour.minute == signature.signed_hour.second == 0
    # The public figures are cached for a few seconds; let them expire.
    letter_figures_forget(letter)
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    assert detail["count"] == 1 and detail["tokens_issued"] == 1


def test_invite_code_route_end_to_end_and_receipts(letter, attestation_ids):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    token = api.token({"type": "invite_code", "code": code.lower().replace("-", " ")})
    status, body = api.sign(
        token,
        pseudonym="Blue Finch",
        attestations=attestation_ids,
        public_name="Ann Lee",
        reveal_at=50,
        department="Legal",
        location="Oslo",
        comment="Enough.\nReally.",
    )
    assert status == 201, body
    receipt = body["receipt"]
    status, state = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert status == 200
    assert state["status"] == "counted" and state["can_withdraw"] is True
    assert state["letter"]["slug"] == letter.slug and state["exports"] == []
    status, state = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": receipt})
    assert status == 200 and state["status"] == "withdrawn"
    assert Signature.objects.get(pk=body["id"]).withdrawn is True
    assert Client().get(f"/api/v1/letters/{letter.slug}").json()["count"] == 0
    # Withdrawing twice is harmless; the token stays spent.
    assert post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": receipt})[0] == 200
    assert api.sign(token, attestations=attestation_ids)[0] == 409


def test_one_invite_code_signs_each_letter_of_its_campaign_once(letter, attestation_ids):
    second = open_letter(letter.campaign)
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    proof = {"type": "invite_code", "code": code}
    assert SigningClient(Client(), letter.slug).request_token(proof)[0] == 200
    assert SigningClient(Client(), second.slug).request_token(proof)[0] == 200
    status, body, _ = SigningClient(Client(), letter.slug).request_token(proof)
    assert status == 409 and body["error"] == "already_issued"
    assert Issuance.objects.count() == 2


def test_account_route_claims_the_work_address_too(letter, roles, attestation_ids):
    user = make_user(email="bo@example.com")
    MembershipFactory(campaign=letter.campaign, user=user)
    browser = Client()
    browser.force_login(user)
    api = SigningClient(browser, letter.slug)
    token = api.token({"type": "account"})
    assert api.sign(token, attestations=attestation_ids)[0] == 201
    assert Issuance.objects.filter(is_alias=False).count() == 1
    # The same person cannot take a second token through the email route...
    status, _ = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "BO@example.com"}
    )
    assert status == 202
    code = last_code("bo@example.com")
    status, body, _t = SigningClient(Client(), letter.slug).request_token(
        {"type": "email_code", "email": "bo@example.com", "code": code}
    )
    assert status == 409, body
    # ... nor a second one through the account.
    assert api.request_token({"type": "account"})[0] == 409
    letter_figures_forget(letter)  # the figures are cached for a few seconds
    assert Client().get(f"/api/v1/letters/{letter.slug}").json()["tokens_issued"] == 1


def test_email_route_first_blocks_the_account_route(letter, attestation_ids):
    user = make_user(email="cy@example.com")
    MembershipFactory(campaign=letter.campaign, user=user)
    email_token(SigningClient(Client(), letter.slug), "cy@example.com")
    browser = Client()
    browser.force_login(user)
    assert SigningClient(browser, letter.slug).request_token({"type": "account"})[0] == 409


@pytest.mark.parametrize("who", ["anonymous", "member", "delegate", "organizer", "other_organizer"])
def test_account_route_needs_membership_and_a_verified_work_address(letter, roles, who):
    user = roles.users()[who]
    browser = Client()
    if user is not None:
        browser.force_login(user)
    # Every role of the fixture has a personal address only.
    status, body, _ = SigningClient(browser, letter.slug).request_token({"type": "account"})
    assert status == 403, body


def test_account_route_rejects_non_members_and_unverified_addresses(letter):
    outsider = make_user(email="dee@example.com")
    browser = Client()
    browser.force_login(outsider)
    assert SigningClient(browser, letter.slug).request_token({"type": "account"})[0] == 403
    unverified = make_user(email="eve@personal.test")
    MembershipFactory(campaign=letter.campaign, user=unverified)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=unverified, email="eve@example.com", verified=False)
    browser.force_login(unverified)
    assert SigningClient(browser, letter.slug).request_token({"type": "account"})[0] == 403


def test_account_proof_is_checked_against_csrf(letter):
    user = make_user(email="fay@example.com")
    MembershipFactory(campaign=letter.campaign, user=user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    status, body, _ = SigningClient(browser, letter.slug).request_token({"type": "account"})
    assert status == 403 and body["error"] == "csrf"
    assert Issuance.objects.count() == 0


def test_signatures_post_needs_no_cookie_or_csrf(letter, attestation_ids):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    strict = Client(enforce_csrf_checks=True)
    api = SigningClient(strict, letter.slug)
    token = api.token({"type": "invite_code", "code": code})
    status, body = api.sign(token, attestations=attestation_ids)
    assert status == 201, body


# --- codes: wrong, expired, reused, too many attempts ------------------------------


def test_email_code_for_a_foreign_domain_is_refused(letter):
    status, body = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "ann@gmail.com"}
    )
    assert status == 400 and "example.com" in body["message"]
    assert mail.outbox == [] and EmailCode.objects.count() == 0


def test_wrong_code_then_attempts_run_out(letter):
    api = SigningClient(Client(), letter.slug)
    post_json(
        api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": "gus@example.com"}
    )
    code = last_code("gus@example.com")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        status, body, _t = api.request_token(
            {"type": "email_code", "email": "gus@example.com", "code": wrong}
        )
        assert status == 403, body
    # Five attempts used: even the right code no longer works.
    status, body, _t = api.request_token(
        {"type": "email_code", "email": "gus@example.com", "code": code}
    )
    assert status == 403 and "new one" in body["message"]
    assert Issuance.objects.count() == 0
    # A new code resets the attempts.
    post_json(
        api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": "gus@example.com"}
    )
    fresh = last_code("gus@example.com")
    assert (
        api.request_token({"type": "email_code", "email": "gus@example.com", "code": fresh})[0]
        == 200
    )


def test_expired_code_is_refused(letter):
    api = SigningClient(Client(), letter.slug)
    post_json(
        api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": "hal@example.com"}
    )
    code = last_code("hal@example.com")
    EmailCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    status, body, _t = api.request_token(
        {"type": "email_code", "email": "hal@example.com", "code": code}
    )
    assert status == 403 and "expired" in body["message"]


def test_used_code_is_gone_and_a_new_code_gets_409(letter):
    api = SigningClient(Client(), letter.slug)
    email_token(api, "ida@example.com")
    # The used code's row went with the issuance it bought.
    assert not EmailCode.objects.exists()
    code = last_code("ida@example.com")
    status, body, _t = api.request_token(
        {"type": "email_code", "email": "ida@example.com", "code": code}
    )
    assert status == 403 and "No valid code" in body["message"]
    # Only someone who can read the mailbox learns that a token was issued.
    post_json(
        api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": "ida@example.com"}
    )
    status, body, _t = api.request_token(
        {"type": "email_code", "email": "ida@example.com", "code": last_code("ida@example.com")}
    )
    assert status == 409 and body["error"] == "already_issued"
    # The refused issuance keeps the new code (its attempt was counted).
    assert EmailCode.objects.get().attempts == 1


def test_expired_codes_are_purged_periodically(letter):
    from django.conf import settings

    from signatures.tasks import purge_expired_email_codes

    for address in ("old@example.com", "new@example.com"):
        post_json(Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": address})
    EmailCode.objects.filter(pk=EmailCode.objects.order_by("pk").first().pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert purge_expired_email_codes.delay().get() == 1
    assert EmailCode.objects.count() == 1
    assert purge_expired_email_codes.delay().get() == 0
    schedule = settings.CELERY_BEAT_SCHEDULE["signatures-purge-expired-email-codes"]
    assert schedule["task"] == purge_expired_email_codes.name


def test_code_of_another_address_or_letter_is_refused(letter):
    other = open_letter(letter.campaign)
    api = SigningClient(Client(), letter.slug)
    post_json(api.client, f"/api/v1/letters/{letter.slug}/email-codes", {"email": "jo@example.com"})
    code = last_code("jo@example.com")
    assert (
        api.request_token({"type": "email_code", "email": "kim@example.com", "code": code})[0]
        == 403
    )
    other_api = SigningClient(Client(), other.slug)
    assert (
        other_api.request_token({"type": "email_code", "email": "jo@example.com", "code": code})[0]
        == 403
    )


def test_revoked_and_foreign_invite_codes_are_refused(letter, roles):
    (revoked,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    InviteCode.objects.update(revoked=True)
    (foreign,) = invite_codes_create(actor=None, campaign=roles.other_campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    for code in (revoked, foreign, "ABCD-EFGH-JKMN-PQRS", "not a code", "", 12):
        status, body, _t = api.request_token({"type": "invite_code", "code": code})
        assert status == 403, (code, body)


def test_codes_are_sent_to_one_address_a_few_times_only(letter):
    for _ in range(3):
        assert (
            post_json(
                Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "lu@example.com"}
            )[0]
            == 202
        )
    status, body = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "lu@example.com"}
    )
    assert status == 429
    assert len(mail.outbox) == 3


# --- redemption errors ----------------------------------------------------------------


@pytest.fixture
def token(letter):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    return api, api.token({"type": "invite_code", "code": code})


def test_double_spend_gets_409(token, attestation_ids):
    api, tok = token
    assert api.sign(tok, attestations=attestation_ids)[0] == 201
    status, body = api.sign(tok, attestations=attestation_ids, pseudonym="Other")
    assert status == 409 and body["error"] == "already_spent"
    assert Signature.objects.count() == 1


def test_missing_attestation_is_refused(token, attestation_ids):
    api, tok = token
    status, body = api.sign(tok, attestations=attestation_ids[:1])
    assert status == 403 and "affirm" in body["message"]
    status, body = api.sign(tok, attestations=[*attestation_ids, 999999])
    assert status == 400
    # The token was not spent by the refusals.
    assert api.sign(tok, attestations=attestation_ids)[0] == 201


def test_token_of_another_letter_is_refused(letter, token, attestation_ids):
    _api, tok = token
    other = open_letter(letter.campaign)
    other_api = SigningClient(Client(), other.slug)
    status, body = other_api.sign(tok, attestations=attestation_ids)
    assert status == 403 and "different letter" in body["message"]
    # Same text, different key: the signature does not verify.
    twin = open_letter(letter.campaign, body=letter.body)
    status, body = SigningClient(Client(), twin.slug).sign(tok, attestations=attestation_ids)
    if int.from_bytes(tok.signature, "big") < int.from_bytes(_n_bytes(twin), "big"):
        assert status == 403 and "not valid" in body["message"]
    else:  # not even a number below the twin's modulus
        assert status == 400 and "modulus" in body["message"]


def test_forged_signature_is_refused(token, attestation_ids):
    api, tok = token
    forged = Token(tok.prepared, tok.signature[:-1] + bytes([tok.signature[-1] ^ 1]))
    status, body = api.sign(forged, attestations=attestation_ids)
    assert status == 403
    # A token with a valid prefix whose nonce was changed does not verify either.
    changed = Token(tok.prepared[:-1] + bytes([tok.prepared[-1] ^ 1]), tok.signature)
    assert api.sign(changed, attestations=attestation_ids)[0] == 403


def _n_bytes(letter):
    key = serialization.load_pem_public_key(letter.issuer_key.public_key_pem.encode())
    return key.public_numbers().n.to_bytes(256, "big")


BAD_SIGNATURE_FIELDS = [
    ({"token": "!!!"}, 400),
    ({"token": "a"}, 400),
    ({"token": ""}, 400),
    ({"token": None}, 400),
    ({"token": 123}, 400),
    ({"token": "A" * 5000}, 400),
    ({"token": b64url_encode(b"x" * 115)}, 400),  # wrong context string
    ({"token": b64url_encode(b"x" * 114)}, 400),  # wrong length
    ({"signature": "@@@"}, 400),
    ({"signature": b64url_encode(b"\x01" * 255)}, 400),
    ({"signature": b64url_encode(b"\x01" * 257)}, 400),
    ({"signature": "modulus"}, 400),  # replaced by n below
    ({"signature": b64url_encode(b"\xff" * 256)}, 400),  # >= n
    ({"pseudonym": ""}, 400),
    ({"pseudonym": "   "}, 400),
    ({"pseudonym": None}, 400),
    ({"pseudonym": ["x"]}, 400),
    ({"pseudonym": "x" * 61}, 400),
    ({"pseudonym": "bad\x00name"}, 400),
    ({"pseudonym": "bad\nname"}, 400),
    ({"pseudonym": "evil\u202ename"}, 400),
    ({"public_name": "a" * 81}, 400),
    ({"public_name": "tab\there"}, 400),
    ({"public_name": "Ann", "reveal_at": "10"}, 400),
    ({"public_name": "Ann", "reveal_at": 0}, 400),
    ({"public_name": "Ann", "reveal_at": 10**8}, 400),
    ({"public_name": "Ann", "reveal_at": True}, 400),
    ({"reveal_at": 10}, 400),
    ({"department": "d" * 81}, 400),
    ({"location": "\x1b[31m"}, 400),
    ({"comment": "c" * 1001}, 400),
    ({"comment": "bell\x07"}, 400),
    ({"attestations": "all"}, 400),
    ({"attestations": [True]}, 400),
    ({"attestations": ["1"]}, 400),
    ({"attestations": [1.5]}, 400),
]


@pytest.mark.parametrize(("fields", "expected"), BAD_SIGNATURE_FIELDS)
def test_bad_signature_input_gets_a_clear_4xx(letter, token, attestation_ids, fields, expected):
    api, tok = token
    if fields.get("signature") == "modulus":
        fields = {"signature": b64url_encode(_n_bytes(letter))}
    status, body = api.sign(tok, **{"attestations": attestation_ids, **fields})
    assert status == expected, body
    assert body["message"]
    assert Signature.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "[1, 2]",
        '"string"',
        "null",
        b"\xff\xfe",
        "{" * 10000,
        "[" * 16000,
        '{"a": ' + '"x' * 20000 + '"}',
    ],
)
def test_malformed_bodies_get_400(letter, raw):
    for path in ("email-codes", "tokens", "signatures"):
        response = Client().post(
            f"/api/v1/letters/{letter.slug}/{path}", data=raw, content_type="application/json"
        )
        assert response.status_code == 400, (path, raw, response.content)
        assert response.json()["message"]
    for path in ("status", "withdraw"):
        response = Client().post(
            f"/api/v1/receipts/{path}", data=raw, content_type="application/json"
        )
        assert response.status_code == 400


BAD_BLINDED = [
    ("", 400),
    ("%%%", 400),
    ("a", 400),
    (b64url_encode(b"\x01" * 255), 400),
    (b64url_encode(b"\x01" * 300), 400),
    (b64url_encode(b"\xff" * 256), 400),  # >= n
    ("modulus", 400),
    (["x"], 400),
]


@pytest.mark.parametrize(("blinded", "expected"), BAD_BLINDED)
def test_bad_blinded_message_gets_400_and_issues_nothing(letter, blinded, expected):
    if blinded == "modulus":
        blinded = b64url_encode(_n_bytes(letter))
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    status, body = post_json(
        Client(),
        f"/api/v1/letters/{letter.slug}/tokens",
        {"blinded_msg": blinded, "proof": {"type": "invite_code", "code": code}},
    )
    assert status == expected, body
    assert Issuance.objects.count() == 0


@pytest.mark.parametrize(
    "proof",
    [
        None,
        "invite",
        [],
        {},
        {"type": "magic"},
        {"type": None},
        {"type": "email_code"},
        {"type": "email_code", "email": "x@example.com", "code": 123},
        {"type": "email_code", "email": ["x"], "code": "12345678"},
    ],
)
def test_bad_proofs_get_4xx(letter, proof):
    blinded = base64.urlsafe_b64encode(b"\x01" * 256).decode()
    status, body = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/tokens", {"blinded_msg": blinded, "proof": proof}
    )
    assert status in (400, 403), body
    assert body["message"]


@pytest.mark.parametrize(
    "email",
    [
        "",
        "no-at-sign",
        "a@b@example.com",
        "@example.com",
        "ann@",
        "a b@example.com",
        "ann@exa mple.com",
        "x" * 300 + "@example.com",
        None,
        5,
        "ann@-.com",
    ],
)
def test_bad_email_addresses_get_400(letter, email):
    status, body = post_json(
        Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": email}
    )
    assert status == 400, body


def test_receipt_errors(letter):
    assert post_json(Client(), "/api/v1/receipts/status", {"receipt": "short"})[0] == 400
    assert post_json(Client(), "/api/v1/receipts/status", {"receipt": 12})[0] == 400
    assert post_json(Client(), "/api/v1/receipts/status", {"receipt": "x" * 43})[0] == 404
    assert post_json(Client(), "/api/v1/receipts/withdraw", {})[0] == 400


def test_withdrawal_after_delivery_is_refused(token, attestation_ids, letter):
    api, tok = token
    _status, body = api.sign(tok, attestations=attestation_ids)
    letter.state = LetterState.DELIVERED
    letter.save()
    status, answer = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": body["receipt"]})
    assert status == 409 and "delivered" in answer["message"]
    assert Signature.objects.get().withdrawn is False
    status, state = post_json(Client(), "/api/v1/receipts/status", {"receipt": body["receipt"]})
    assert state["status"] == "counted" and state["can_withdraw"] is False


# --- letter states, visibility, methods, rate limits --------------------------------


def test_closed_letter_gets_410_and_drafts_404(token, letter, attestation_ids):
    api, tok = token
    letter.state = LetterState.CLOSED
    letter.save()
    assert api.sign(tok, attestations=attestation_ids)[0] == 410
    assert api.request_token({"type": "invite_code", "code": "x"})[0] == 410
    assert (
        post_json(
            Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": "a@example.com"}
        )[0]
        == 410
    )
    letter.state = LetterState.OPEN
    letter.deadline = timezone.now() - timedelta(minutes=1)
    letter.save()
    assert api.sign(tok, attestations=attestation_ids)[0] == 410
    draft = open_letter(letter.campaign, state=LetterState.DRAFT, with_key=False)
    for path in ("", "/signatures"):
        assert Client().get(f"/api/v1/letters/{draft.slug}{path}").status_code == 404
    assert Client().get("/api/v1/letters/no-such-letter").status_code == 404


@pytest.mark.parametrize("path", ["tokens", "signatures"])
def test_bad_body_to_a_wrong_address_gets_404(letter, path):
    """The address is checked before the body: a client that got the letter
    wrong learns that, not what else was wrong."""
    client = Client()
    for body in ("not json", "{}"):
        for slug, status, error in [
            ("no-such-letter", 404, "not_found"),
            (letter.slug, 400, "bad_request"),
        ]:
            response = client.post(
                f"/api/v1/letters/{slug}/{path}", body, content_type="application/json"
            )
            assert response.status_code == status, (slug, body)
            assert response.json()["error"] == error
    letter.visibility = Visibility.UNLISTED
    letter.save()
    signing_letters_forget()
    response = client.post(
        f"/api/v1/letters/{letter.slug}/{path}", "{}", content_type="application/json"
    )
    assert response.status_code == 404
    response = client.post(
        f"/api/v1/letters/{letter.slug}/{path}?key={letter.unlisted_token}",
        "{}",
        content_type="application/json",
    )
    assert response.status_code == 400


def test_unlisted_letter_needs_its_key(letter):
    letter.visibility = Visibility.UNLISTED
    letter.save()
    assert Client().get(f"/api/v1/letters/{letter.slug}").status_code == 404
    assert Client().get(f"/api/v1/letters/{letter.slug}?key=wrong").status_code == 404
    assert (
        Client().get(f"/api/v1/letters/{letter.slug}?key={letter.unlisted_token}").status_code
        == 200
    )
    assert Client().get("/api/v1/letters/").json()["letters"] == []


def test_wrong_methods_get_405(letter):
    assert Client().get(f"/api/v1/letters/{letter.slug}/tokens").status_code == 405
    assert Client().post(f"/api/v1/letters/{letter.slug}").status_code == 405
    assert Client().get("/api/v1/receipts/status").status_code == 405


@pytest.mark.redis
def test_rate_limits_count_in_redis(letter, settings):
    """The counters live in the shared cache, so every server process sees them."""
    from django.core.cache import caches

    assert "redis" in type(caches["default"]).__module__
    test_rate_limits_answer_429(letter, settings)


def test_rate_limits_answer_429(letter, settings):
    settings.SIGNATURES_RATE_LIMITS = {
        "token": (2, 900),
        "signature": (2, 60),
        "email_code": (2, 900),
    }
    client = Client()
    path = f"/api/v1/letters/{letter.slug}"
    statuses = [post_json(client, path + "/tokens", {})[0] for _ in range(3)]
    assert statuses == [400, 400, 429]
    statuses = [post_json(client, path + "/signatures", {})[0] for _ in range(3)]
    assert statuses == [400, 400, 429]
    statuses = [
        post_json(client, path + "/email-codes", {"email": f"m{i}@example.com"})[0]
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]
    # Another client (another keyed address) is not affected.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert post_json(other, path + "/tokens", {})[0] == 400


WEIRD_VALUES = [
    None,
    True,
    0,
    -1,
    10**400,
    1.5,
    "",
    " ",
    "x" * 3000,
    "\x00",
    "\ud800",
    "é" * 70,
    [],
    [1, "a"],
    {},
    {"type": "invite_code"},
    "NaN",
]


def test_no_field_value_causes_a_server_error(token, attestation_ids, settings):
    """Every field of every POST endpoint, replaced by odd JSON values: 4xx, never 500."""
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(
        ["email_code", "token", "invite_code", "signature", "receipt"]
    )
    api, tok = token
    slug = api.slug
    valid = {
        f"/api/v1/letters/{slug}/email-codes": {"email": "ok@example.com"},
        f"/api/v1/letters/{slug}/tokens": {
            "blinded_msg": b64url_encode(b"\x01" * 256),
            "proof": {"type": "invite_code", "code": "ABCD-EFGH-JKMN-PQRS"},
        },
        f"/api/v1/letters/{slug}/signatures": tok.payload(
            attestations=attestation_ids,
            public_name="A",
            reveal_at=3,
            department="D",
            location="L",
            comment="C",
        ),
        "/api/v1/receipts/status": {"receipt": "r" * 43},
        "/api/v1/receipts/withdraw": {"receipt": "r" * 43},
    }
    client = Client()
    for path, base in valid.items():
        for field in base:
            for value in WEIRD_VALUES:
                payload = {**base, field: value}
                response = client.post(
                    path, data=json.dumps(payload), content_type="application/json"
                )
                assert response.status_code < 500, (path, field, value)
                assert response.status_code != 429
                if response.status_code >= 400:
                    assert response.json()["message"], (path, field, value)
