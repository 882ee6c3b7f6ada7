"""The cache (Redis in production) holds no value that a database row holds:
a seized Redis must not be joinable to issuance or email-code rows, and its
keys' expiry times would date the rows they name."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from signatures.models import EmailCode, InviteCode, Issuance
from signatures.services.eligibility import invite_codes_create
from tests.signatures.conftest import last_code
from tests.signatures.helpers import SigningClient, post_json
from tests.support.cache_contents import cache_entries


def check_cache_holds_no_stored_value(letter):
    slug = letter.slug
    api = SigningClient(Client(), slug)
    # One code bought a token (an issuance row), one waits (an email-code row).
    for address in ("ann@example.com", "bo@example.com"):
        status, _body = post_json(
            Client(), f"/api/v1/letters/{slug}/email-codes", {"email": address}
        )
        assert status == 202
    api.token(
        {"type": "email_code", "email": "ann@example.com", "code": last_code("ann@example.com")}
    )
    (invite,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api.token({"type": "invite_code", "code": invite})

    stored = set(Issuance.objects.values_list("identity_hmac", flat=True))
    for row in EmailCode.objects.all():
        stored |= {row.email_hmac, row.code_hmac}
    stored |= set(InviteCode.objects.values_list("code_hmac", flat=True))
    assert len(stored) == 5
    entries = cache_entries()
    assert any("sig-email-sent" in key for key, _value in entries)
    for key, value in entries:
        for secret in stored:
            assert secret not in key.lower(), key
            assert secret not in value.lower(), key


def test_the_cache_holds_nothing_a_database_row_holds(letter):
    check_cache_holds_no_stored_value(letter)


@pytest.mark.redis
def test_redis_holds_nothing_a_database_row_holds(letter):
    assert settings.REDIS_URL
    check_cache_holds_no_stored_value(letter)
