"""Golden shape of the JSON API: for each endpoint, the status of a
successful answer and the (sorted) keys of its body and nested objects, and
the status and error code of each kind of refusal. Signing clients
(static/js, clients/, other people's scripts following
docs/signing-protocol.md) parse these. Frozen on commit 1d16306.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from django.test import Client

from tests.contracts import paths
from tests.contracts.conftest import GOLDEN_LETTER_SLUG

pytestmark = pytest.mark.django_db

API = "/api/v1"
LETTER = f"{API}/letters/{GOLDEN_LETTER_SLUG}"

# Computed on commit 1d16306; must never change (keys may only be added, deliberately).
LETTER_LIST = ["letters"]
LETTER_SUMMARY = ["slug", "state", "title", "url"]
LETTER_DETAIL = [
    "attestations",
    "count",
    "deadline",
    "departments",
    "eligibility",
    "email_domains",
    "goal",
    "is_open",
    "issuer",
    "k",
    "locations",
    "log",  # added with the letter's transparency log (issue 15)
    "next_batch_within_minutes",  # added with batches: the signing page shows it (issue 15)
    "slug",
    "state",
    "text_sha256",
    "title",
    "tokens_issued",
]
ATTESTATION = ["id", "text"]
GROUP = ["count", "name"]
ISSUER = ["key_id", "public_key_pem", "variant"]
# tree_size: added so the count is shown beside its checkpoint (issue 15).
LOG = ["checkpoint_url", "origin", "tree_size", "verifier_key"]
EMAIL_CODE_SENT = ["message", "status"]
TOKEN = ["blind_sig"]
SIGNATURE_CREATED = ["id", "receipt", "status"]
SIGNATURE_LIST = ["count", "next", "page", "pages", "results", "tokens_issued"]
# commitment, log_index: added with the log (issue 15); id, moderation:
# added with moderation (issue 17).
SIGNATURE_ROW = [
    "comment",
    "commitment",
    "department",
    "id",
    "location",
    "log_index",
    "moderation",
    "pseudonym",
    "public_name",
]
# log, withdrawal_pending: added with batches and the log (issue 15);
# moderation: added with moderation (issue 17).
RECEIPT_STATUS = [
    "can_withdraw",
    "exports",
    "letter",
    "log",
    "moderation",
    "pseudonym",
    "status",
    "updates",  # added with the letters' updates (issue 17)
    "withdrawal_pending",
]
RECEIPT_LETTER = ["slug", "state", "title"]
# delivered_at: added so a receipt tells the delivered petition from other
# exports (issue 16).
RECEIPT_EXPORT = ["created", "delivered_at", "id", "url"]
RECEIPT_UPDATE = ["edited", "id", "published", "text", "title", "url"]
# The timeline (issue 17).
TIMELINE = ["count", "goal", "k", "periods", "slug", "tokens_issued"]
TIMELINE_PERIOD = ["from", "signatures", "to", "tokens_issued", "total"]
# stall_notice: added with the export heartbeat (issue 13).
EXPORT_STATUS = ["error", "finished", "progress", "stall_notice", "status", "status_display"]
ERROR = ["error", "message"]
# reason: (status, error code)
REFUSALS = {
    "unknown letter": (404, "not_found"),
    "wrong method": (405, "method_not_allowed"),
    "not json": (400, "bad_request"),
    "bad base64url": (400, "bad_request"),
    "unknown receipt": (404, "not_found"),
    "unknown invite code": (403, "forbidden"),
    "second token": (409, "already_issued"),
    "token spent": (409, "already_spent"),
    "letter closed": (410, "letter_not_open"),
    "rate limited": (429, "rate_limited"),
}


def keys(data: dict) -> list[str]:
    return sorted(data)


def get(client, path: str) -> tuple[int, dict]:
    response = client.get(path)
    assert response["Content-Type"] == "application/json", path
    return response.status_code, response.json()


def make_signatures(letter, n: int) -> None:
    """n counted signatures in one department and location (k = 5 shows them)."""
    for i in range(n):
        paths.Signature.objects.create(
            id=uuid.uuid4(),
            letter=letter,
            token_hash=uuid.uuid4().hex * 2,
            receipt_hash=uuid.uuid4().hex * 2,
            pseudonym=f"Golden {i}",
            department="Legal",
            location="Oslo",
            signed_hour=dt.datetime(2024, 5, 6, 7, tzinfo=dt.UTC),
            attestations=[],
        )


def attestation_ids(letter) -> list[int]:
    return list(
        paths.Attestation.objects.filter(campaign=letter.campaign).values_list("id", flat=True)
    )


def test_letters(golden_letter):
    make_signatures(golden_letter, 5)
    client = Client()
    status, body = get(client, f"{API}/letters/")
    assert (status, keys(body)) == (200, LETTER_LIST)
    assert [keys(item) for item in body["letters"]] == [LETTER_SUMMARY]
    assert body["letters"][0]["url"] == LETTER

    response = client.get(LETTER)
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert (response.status_code, keys(body)) == (200, LETTER_DETAIL)
    assert [keys(a) for a in body["attestations"]] == [ATTESTATION, ATTESTATION]
    assert [keys(d) for d in body["departments"]] == [GROUP]
    assert [keys(d) for d in body["locations"]] == [GROUP]
    assert keys(body["issuer"]) == ISSUER
    assert body["eligibility"] == ["email_code", "invite_code"]
    assert body["issuer"]["variant"] == "RSABSSA-SHA384-PSS-Randomized"
    assert body["log"] is None  # the golden letter was opened before logs existed
    paths.log_open(letter=golden_letter)
    body = client.get(LETTER).json()
    assert keys(body["log"]) == LOG
    assert body["log"]["checkpoint_url"] == f"/log/{GOLDEN_LETTER_SLUG}/checkpoint"

    status, body = get(client, f"{LETTER}/timeline")
    assert (status, keys(body)) == (200, TIMELINE)
    assert [keys(period) for period in body["periods"]][:1] == [TIMELINE_PERIOD]


def test_signing_receipts_and_withdrawal(golden_letter, settings):
    client = Client()
    status, body = paths.post_json(
        client, f"{LETTER}/email-codes", {"email": "ann.lee@example.com"}
    )
    assert (status, keys(body), body["status"]) == (202, EMAIL_CODE_SENT, "sent")

    api = paths.SigningClient(client, GOLDEN_LETTER_SLUG)
    code = paths.last_code("ann.lee@example.com")
    status, body, token = api.request_token(
        {"type": "email_code", "email": "ann.lee@example.com", "code": code}
    )
    assert (status, keys(body)) == (200, TOKEN)

    status, created = api.sign(
        token,
        attestations=attestation_ids(golden_letter),
        public_name="Ann Lee",
        department="Legal",
        comment="Enough.",
    )
    assert (status, keys(created), created["status"]) == (201, SIGNATURE_CREATED, "counted")

    status, body = get(client, f"{LETTER}/signatures")
    assert (status, keys(body)) == (200, SIGNATURE_LIST)
    assert [keys(row) for row in body["results"]] == [SIGNATURE_ROW]

    # A finished export that includes the signature is listed with the
    # receipt; it is found where existing exports lie on disk.
    export = paths.Export.objects.create(
        letter=golden_letter,
        state_key="0" * 64,
        status="done",
        progress=100,
        finished_at=dt.datetime(2024, 5, 7, tzinfo=dt.UTC),
    )
    directory = Path(settings.DATA_DIR) / "exports" / str(export.pk)
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(f'[{{"id": "{created["id"]}"}}]')

    paths.Update.objects.create(letter=golden_letter, title="Delivered", body="To *them*.")

    receipt = {"receipt": created["receipt"]}
    status, body = paths.post_json(client, f"{API}/receipts/status", receipt)
    assert (status, keys(body), body["status"]) == (200, RECEIPT_STATUS, "counted")
    assert keys(body["letter"]) == RECEIPT_LETTER
    assert [keys(e) for e in body["exports"]] == [RECEIPT_EXPORT]
    assert [keys(u) for u in body["updates"]] == [RECEIPT_UPDATE]
    assert body["exports"][0]["url"] == f"/c/acme/verify/{export.pk}/"

    status, body = paths.post_json(client, f"{API}/receipts/withdraw", receipt)
    assert (status, keys(body), body["status"]) == (200, RECEIPT_STATUS, "withdrawn")


def test_export_status(golden_letter, roles, client_for):
    export = paths.Export.objects.create(letter=golden_letter, state_key="0" * 64)
    response = client_for(roles.delegate).get(f"/c/acme/exports/{export.pk}/status.json")
    assert (response.status_code, keys(response.json())) == (200, EXPORT_STATUS)
    assert response["Cache-Control"] == "no-store"


def test_refusals(golden_letter, roles, settings):
    client = Client()
    invite = {"type": "invite_code", "code": "ABCD-EFGH-JKMN-PQRS"}

    def post(path, data):
        return paths.post_json(client, path, data)

    answers = {
        "unknown letter": get(client, f"{API}/letters/no-such-letter"),
        "wrong method": get(client, f"{API}/receipts/status"),
        "not json": post(f"{LETTER}/tokens", "not json"),
        "bad base64url": post(f"{LETTER}/tokens", {"blinded_msg": "+/", "proof": invite}),
        "unknown receipt": post(f"{API}/receipts/status", {"receipt": "x" * 43}),
    }
    api = paths.SigningClient(client, GOLDEN_LETTER_SLUG)
    answers["unknown invite code"] = api.request_token(invite)[:2]
    paths.InviteCode.objects.create(
        campaign=roles.campaign, code_hmac=paths.invite_code_hmac("ABCDEFGHJKMNPQRS")
    )
    token = api.token(invite)
    answers["second token"] = api.request_token(invite)[:2]
    assert api.sign(token, attestations=attestation_ids(golden_letter))[0] == 201
    answers["token spent"] = api.sign(token, attestations=attestation_ids(golden_letter))
    paths.open_letter(roles.campaign, slug="closed-letter", state=paths.LetterState.CLOSED)
    answers["letter closed"] = post(f"{API}/letters/closed-letter/email-codes", {"email": "a@b.c"})
    settings.SIGNATURES_RATE_LIMITS = {"receipt": (0, 60)}
    answers["rate limited"] = post(f"{API}/receipts/status", {"receipt": "x" * 43})

    assert {reason: (status, keys(body)) for reason, (status, body) in answers.items()} == {
        reason: (status, ERROR) for reason, (status, _code) in REFUSALS.items()
    }
    assert {reason: (status, body["error"]) for reason, (status, body) in answers.items()} == (
        REFUSALS
    )
