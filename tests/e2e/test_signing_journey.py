"""Sign an open letter in Chromium with an invite code, keep the receipt,
check it and withdraw. The page's Cloudflare blindrsa-ts bundle blinds and
unblinds against the Python server, so this is also the browser interop test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from signatures.models import Attestation, Issuance, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
from tests.support.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_with_an_invite_code_then_check_and_withdraw(page):
    campaign = CampaignFactory(slug="acme", allowed_domains=["example.com"], k_threshold=5)
    Attestation.objects.create(campaign=campaign, text="I am a current employee")
    letter = open_letter(campaign, slug="stop-logging", title="Stop keystroke logging")
    (code,) = invite_codes_create(actor=None, campaign=campaign, count=1)

    page.goto(f"/letters/{letter.slug}/sign/")
    expect(page.get_by_role("heading", name=re.compile("Show that you work"))).to_be_visible()
    expect(page.get_by_text("Protect yourself")).to_be_visible()
    page.get_by_label("An invite code from an organizer").check()
    page.get_by_label("Invite code", exact=True).fill(code)
    page.locator("#invite-form").get_by_role("button", name="Verify").click()

    # The token is in the browser and survives a reload.
    expect(page.locator("#step-sign")).to_be_visible()
    assert Issuance.objects.count() == 1
    page.reload()
    expect(page.locator("#step-sign")).to_be_visible()
    pseudonym = page.get_by_label("Pseudonym (shown publicly)")
    expect(pseudonym).not_to_have_value("")
    pseudonym.fill("Quiet Heron 7")
    page.get_by_label("I am a current employee").check()
    # A random delay: the filled-in signature waits in the browser, survives
    # a reload, and can be sent at once.
    page.get_by_label("Wait before sending (optional)").select_option("600")
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.get_by_role("heading", name="Waiting to send your signature")).to_be_visible()
    assert Signature.objects.count() == 0
    page.reload()
    expect(page.get_by_role("heading", name="Waiting to send your signature")).to_be_visible()
    page.get_by_role("button", name="Send it now").click()

    expect(page.get_by_role("heading", name="Signed. Save your receipt now.")).to_be_visible()
    receipt = page.locator("#receipt").input_value()
    assert len(receipt) >= 40
    signature = Signature.objects.get()
    assert signature.pseudonym == "Quiet Heron 7" and not signature.withdrawn
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the receipt").click()
    assert receipt in Path(download.value.path()).read_text(encoding="utf-8")

    page.get_by_role("link", name="Check or withdraw").click()
    page.get_by_label("Your receipt").fill(receipt)
    page.get_by_role("button", name="Check status").click()
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Withdraw my signature").click()
    expect(page.get_by_text("Your signature has been withdrawn.")).to_be_visible()
    signature.refresh_from_db()
    assert signature.withdrawn

    assert page.foreign_requests == []
    assert page.console_errors == []
