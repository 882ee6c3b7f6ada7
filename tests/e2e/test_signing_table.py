"""A signing table at a union meeting (issue 16, item 6), done in Chromium:
one Wi-Fi, one address. The live server sees every browser as 127.0.0.1,
so the whole room is one client key, as at the table.

Twenty-five people sign one after another, each scanning an invite card
(`/letters/<slug>/sign/#invite=CODE`) in a fresh browser, most on a phone;
then someone at the same table types wrong codes until the page tells them
to wait. The limits are the real defaults (core.ratelimit), counted in the
cache the live server uses. The API-level test with a room of 200 is
tests/signatures/test_signing_table.py.

E2E_SCREENSHOTS=<folder> saves a screenshot of the main page states there.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import caches
from playwright.sync_api import expect

from core import ratelimit
from core.crypto import client_key_for
from core.ratelimit import DEFAULT_RATE_LIMITS
from signatures.models import Attestation, Issuance, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
from tests.support.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = 25  # the old limit (20 token requests per 15 minutes) stopped the 21st
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
WAIT_MESSAGE = "Too many requests. Please wait a few minutes and try again."
NOW = dt.datetime(2024, 5, 6, 7, 0, 1, tzinfo=dt.UTC)
# Well-formed codes (16 characters of the invite alphabet) never issued.
GUESSES = [f"ABCD-EFGH-JKMN-{n:04d}" for n in range(100)]


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """The real limits, in one fixed window of the counter: a test that
    straddled a window's end would see the count start again. Only the
    counter's clock is fixed (the live server runs in this process)."""
    monkeypatch.setattr(ratelimit, "timezone", SimpleNamespace(now=lambda: NOW))
    assert not hasattr(settings, "SIGNATURES_RATE_LIMITS")
    assert settings.SIGNATURE_BATCHES == "at-once"


def counter(scope: str) -> int:
    """The live server's fixed-window count for the table's address."""
    window = DEFAULT_RATE_LIMITS[scope][1]
    bucket = int(NOW.timestamp()) // window
    key = f"sig-rl:{scope}:{client_key_for('127.0.0.1')}:{bucket}"
    return int(caches["default"].get(key) or 0)


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def table_letter():
    campaign = CampaignFactory(slug="acme", name="Acme workers", k_threshold=5)
    Attestation.objects.create(campaign=campaign, text="I am a current employee")
    return open_letter(campaign, slug="stop-logging", title="Stop keystroke logging")


def token_request(page, press):
    """Press Verify; returns the HTTP status of the one token request it sends."""
    with page.expect_response(lambda r: r.url.endswith("/tokens")) as response:
        press()
    return response.value.status


def test_a_signing_table_signs_25_people_and_still_slows_a_guesser(new_page):
    letter = table_letter()
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=ROOM + 1)
    spare = codes.pop()

    for i, code in enumerate(codes):
        page = new_page(**(DESKTOP if i % 6 == 5 else PHONE))  # a few at a laptop
        page.goto(f"/letters/{letter.slug}/sign/#invite={code}")
        expect(page.get_by_label("Invite code", exact=True)).to_have_value(code)
        verify = page.get_by_role("button", name="Verify", exact=True).locator("visible=true")
        assert token_request(page, verify.click) == 200, i
        expect(page.locator("#step-sign")).to_be_visible()
        page.get_by_label("Pseudonym (shown publicly)").fill(f"Table Signer {i + 1}")
        page.get_by_label("I am a current employee").check()
        page.get_by_role("button", name="Sign the letter").click()
        expect(page.get_by_role("heading", name="Signed. Save your receipt now.")).to_be_visible()
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", page.locator("#receipt").input_value())
        expect(page.locator("#sign-error")).to_have_text("")
        if i in (0, ROOM - 1):
            shot(page, f"table-receipt-{i + 1}")
        assert page.foreign_requests == [] and page.console_errors == [], i
        page.context.close()  # the next person takes the phone

    assert Issuance.objects.filter(letter=letter).count() == ROOM
    # Successes left nothing in the table's count of refusals.
    assert counter("invite_code") == 0

    # Someone at the same table guesses codes until the page says to wait.
    guesser = new_page(**PHONE)
    guesser.goto(f"/letters/{letter.slug}/sign/")
    guesser.get_by_label("An invite code from an organizer").check()
    box = guesser.get_by_label("Invite code", exact=True)
    verify = guesser.locator("#verify-invite")
    error = guesser.locator("#sign-error")
    limit = DEFAULT_RATE_LIMITS["invite_code"][0]
    refused = 0
    for guess in GUESSES:
        box.fill(guess)
        status = token_request(guesser, verify.click)
        if status == 429:
            break
        assert status == 403, guess
        expect(error).not_to_have_text("")
        expect(error).not_to_have_text(WAIT_MESSAGE)
        refused += 1
    assert refused == limit  # 30 wrong guesses were tried, the 31st was not
    expect(error).to_have_text(WAIT_MESSAGE)  # words, not "Error 429"
    expect(guesser.locator("#step-verify")).to_be_visible()
    shot(guesser, "table-guesser-waits")
    # Past the limit a guess is not even checked: a valid code is refused
    # too, and stays unused.
    box.fill(spare)
    assert token_request(guesser, verify.click) == 429
    expect(error).to_have_text(WAIT_MESSAGE)
    assert Issuance.objects.filter(letter=letter).count() == ROOM
    assert counter("invite_code") == limit + 2

    # The room's 25 signatures all count, on the letter's public API.
    answer = guesser.request.get(f"/api/v1/letters/{letter.slug}")
    assert answer.status == 200
    assert (answer.json()["count"], answer.json()["tokens_issued"]) == (ROOM, ROOM)
    assert Signature.objects.filter(letter=letter, withdrawn=False).count() == ROOM
    assert guesser.foreign_requests == []
    # Chromium logs each refused request as a console error, nothing else.
    assert len(guesser.console_errors) == limit + 2
    assert all(re.search(r"status of 4(03|29)", e) for e in guesser.console_errors)
