"""PostgreSQL's own log records nothing of a signer (docs/operations.md, "Log
hygiene").

A unique violation is logged by the server with the conflicting key
(`DETAIL: Key (letter_id, token_hash)=(...)`) and a time to the millisecond,
even when the application catches it. So every conflict a signer can cause
(a double spend, a second token for the same person by any route, two code
requests for one address at once) must not make the database raise. Run
against the real PostgreSQL, reading its log file.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from signatures.models import EmailCode, InviteCode, Issuance, Signature
from signatures.services.common import sha256_hex
from signatures.services.eligibility import _code_hmac, identity_hmac, invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.helpers import SigningClient, post_json
from tests.support.factories import MembershipFactory
from tests.support.postgres_log import ServerLog, race_with_uncommitted_row
from tests.support.users import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def no_rate_limits(settings):
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(
        ["token", "invite_code", "signature", "email_code"]
    )


def request_code(slug: str, address: str) -> int:
    return post_json(Client(), f"/api/v1/letters/{slug}/email-codes", {"email": address})[0]


def test_conflicts_of_signers_leave_no_trace_in_the_server_log(
    letter, attestation_ids, no_rate_limits
):
    log = ServerLog()
    slug = letter.slug
    secrets: set[str] = set()

    # Invite code: a second token for the same code, then a double spend.
    (invite,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), slug)
    token = api.token({"type": "invite_code", "code": invite})
    status, body, _tok = api.request_token({"type": "invite_code", "code": invite})
    assert (status, body["error"]) == (409, "already_issued")
    assert api.sign(token, attestations=attestation_ids)[0] == 201
    status, body = api.sign(token, attestations=attestation_ids)
    assert (status, body["error"]) == (409, "already_spent")
    secrets.add(sha256_hex(token.prepared))

    # Work-email code: a token, then a second code for the same address.
    address = "ann.w@example.com"
    assert request_code(slug, address) == 202
    api.token({"type": "email_code", "email": address, "code": last_code(address)})
    assert request_code(slug, address) == 202
    second = last_code(address)
    email_hmac = identity_hmac(letter.pk, f"email:{address}")
    secrets.add(_code_hmac(letter.pk, email_hmac, second))
    status, body, _tok = api.request_token({"type": "email_code", "email": address, "code": second})
    assert (status, body["error"]) == (409, "already_issued")

    # A signed-in member: a second token, and then the email route for the
    # work address the account already claimed.
    carl = make_user(email="carl.k@example.com")
    MembershipFactory(campaign=letter.campaign, user=carl, display_name="Carl")
    browser = Client()
    browser.force_login(carl)
    member_api = SigningClient(browser, slug)
    member_api.token({"type": "account"})
    status, body, _tok = member_api.request_token({"type": "account"})
    assert (status, body["error"]) == (409, "already_issued")
    assert request_code(slug, carl.email) == 202
    status, body, _tok = api.request_token(
        {"type": "email_code", "email": carl.email, "code": last_code(carl.email)}
    )
    assert (status, body["error"]) == (409, "already_issued")

    # Two code requests for one address at once: the other's row is written
    # but not committed when this one writes its own.
    address = "bea.k@example.com"
    bea_hmac = identity_hmac(letter.pk, f"email:{address}")

    def pending_code():
        EmailCode.objects.create(
            letter=letter,
            email_hmac=bea_hmac,
            code_hmac="0" * 64,
            expires_at=timezone.now() + timedelta(minutes=15),
        )

    assert race_with_uncommitted_row(pending_code, lambda: request_code(slug, address)) == 202
    code = last_code(address)
    secrets.add(_code_hmac(letter.pk, bea_hmac, code))
    assert EmailCode.objects.get(email_hmac=bea_hmac).code_hmac == _code_hmac(
        letter.pk, bea_hmac, code
    )
    api.token({"type": "email_code", "email": address, "code": code})  # the code sent works

    assert Signature.objects.count() == 1
    assert Issuance.objects.filter(is_alias=False).count() == 4
    secrets |= set(Issuance.objects.values_list("identity_hmac", flat=True))
    secrets |= set(InviteCode.objects.values_list("code_hmac", flat=True))
    secrets |= set(Signature.objects.values_list("token_hash", "receipt_hash").get())
    secrets |= {email_hmac, bea_hmac}

    log.assert_no_conflict_logged(*secrets)
