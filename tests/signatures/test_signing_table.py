"""A signing table at a union meeting: one Wi-Fi, one address, so one client
key for a room of people signing with invite codes (issue 16, item 6). The
limits must let the room through and still stop someone guessing codes.
Each test runs with the default limits (core.ratelimit.DEFAULT_RATE_LIMITS),
in one fixed window of the counter."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.test import Client

from core import ratelimit
from core.ratelimit import DEFAULT_RATE_LIMITS
from signatures.models import Issuance, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.helpers import SigningClient

# People at the table within one 15-minute window: the old limit (20 token
# requests per 15 minutes, successes included) let 20 through.
ROOM = 200
TYPOS = 10  # of them mistype their code once first

WRONG_CODE = "ABCD-EFGH-JKMN-PQRS"  # well-formed, never issued


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """Every request of the test falls in the same window of the counter
    (a test that straddled a window's end would see the count start again)."""
    now = dt.datetime(2024, 5, 6, 7, 0, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(ratelimit, "timezone", SimpleNamespace(now=lambda: now))
    assert not hasattr(ratelimit.settings, "SIGNATURES_RATE_LIMITS")


def typo(code: str) -> str:
    """The code with one character changed to another valid one."""
    first = "0" if code[0] != "0" else "1"
    return first + code[1:]


def test_a_room_behind_one_address_verifies_and_signs(letter, attestation_ids):
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=ROOM)
    table = SigningClient(Client(), letter.slug)  # one client key for everyone
    for i, code in enumerate(codes):
        if i < TYPOS:
            status, body, _t = table.request_token({"type": "invite_code", "code": typo(code)})
            assert status == 403, body
        token = table.token({"type": "invite_code", "code": code})
        status, body = table.sign(token, pseudonym=f"Signer {i}", attestations=attestation_ids)
        assert status == 201, (i, body)
    assert Issuance.objects.filter(letter=letter).count() == ROOM
    assert Signature.objects.filter(letter=letter).count() == ROOM


def test_guessing_invite_codes_from_one_address_gets_429(letter):
    (valid,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    limit = DEFAULT_RATE_LIMITS["invite_code"][0]
    guesser = SigningClient(Client(), letter.slug)
    for _ in range(limit):
        status, body, _t = guesser.request_token({"type": "invite_code", "code": WRONG_CODE})
        assert (status, body["error"]) == (403, "forbidden")
    status, body, _t = guesser.request_token({"type": "invite_code", "code": WRONG_CODE})
    assert (status, body["error"]) == (429, "rate_limited")
    # Past the limit a guess is not even tried: a right one is refused too.
    status, body, _t = guesser.request_token({"type": "invite_code", "code": valid})
    assert (status, body["error"]) == (429, "rate_limited")
    assert not Issuance.objects.exists()
    # Another address is not slowed down by the guesser.
    other = SigningClient(Client(REMOTE_ADDR="198.51.100.7"), letter.slug)
    assert other.request_token({"type": "invite_code", "code": valid})[0] == 200


def test_successes_never_use_up_the_limit_of_failures(letter):
    """However many codes the table redeemed, its typos are still allowed
    up to the limit, and one more is refused."""
    limit = DEFAULT_RATE_LIMITS["invite_code"][0]
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=limit + 5)
    table = SigningClient(Client(), letter.slug)
    for code in codes:
        assert table.request_token({"type": "invite_code", "code": code})[0] == 200
    # A code already redeemed is a refusal like a wrong one.
    for code in codes[:limit]:
        assert table.request_token({"type": "invite_code", "code": code})[0] == 409
    assert table.request_token({"type": "invite_code", "code": WRONG_CODE})[0] == 429


def test_wrong_email_codes_have_their_own_limit(letter):
    """Email-code refusals count under "token", not under the invite codes'
    limit: a room's invite-code typos do not lock out email verification."""
    limit = DEFAULT_RATE_LIMITS["invite_code"][0]
    table = SigningClient(Client(), letter.slug)
    for _ in range(limit):
        assert table.request_token({"type": "invite_code", "code": WRONG_CODE})[0] == 403
    status, body, _t = table.request_token(
        {"type": "email_code", "email": "ann@example.com", "code": "12345678"}
    )
    assert (status, body["error"]) == (403, "forbidden")  # refused, not rate limited


@pytest.mark.redis
def test_the_room_and_the_guesser_on_redis(letter, attestation_ids):
    """The same with the counters in Redis (the count taken back by a script)."""
    assert "redis" in type(caches["default"]).__module__
    test_guessing_invite_codes_from_one_address_gets_429(letter)
    caches["default"].clear()
    test_successes_never_use_up_the_limit_of_failures(letter)
