"""Moderation in Chromium, on a phone and on a desktop screen: an anonymous
visitor reports a comment from the public list; the organizer starts from
the campaign's manage page, hides the comment with a reason and a note,
approves text the hold list kept back, dismisses a report and shows the
comment again; the signer reads on the receipt page what was hidden and why.

E2E_SCREENSHOTS=<folder> saves a screenshot of each main page state there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from organizing.models import Role
from signatures.models import ReportStatus, SignatureModeration, SignatureReport
from signatures.services.moderation import hold_list_update
from tests.signatures.factories import open_letter, sealed_signatures
from tests.support.factories import CampaignFactory, MembershipFactory
from tests.support.sessions import login_with_mfa
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
COMMENT = "Our manager Bo Lind reads our chats and lives at 12 Elm Street."


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}-{page.screen_name}.png", full_page=True)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture(params=list(VIEWPORTS))
def screen_name(request):
    return request.param


@pytest.fixture
def setting(live_server):
    campaign = CampaignFactory(slug="acme", name="Acme workers", k_threshold=5)
    organizer = make_user(mfa=True, email="ada@personal.test")
    MembershipFactory(campaign=campaign, user=organizer, role=Role.ORGANIZER, display_name="Ada")
    letter = open_letter(campaign, slug="stop-logging", title="Stop keystroke logging")
    hold_list_update(actor=organizer, campaign=campaign, terms="Tim Cook")
    made = sealed_signatures(
        letter,
        {"pseudonym": "Heron", "comment": COMMENT},
        {"pseudonym": "Finch", "comment": "Enough."},
        {"pseudonym": "T1m C00k", "comment": "I approve this letter."},
        {"pseudonym": "Wren"},
    )
    return campaign, organizer, letter, {sig.pseudonym: (sig, receipt) for sig, receipt in made}


def page_for(new_page, live_server, screen_name, user=None):
    page = new_page(**VIEWPORTS[screen_name])
    page.screen_name = screen_name
    if user is not None:
        client = Client()
        login_with_mfa(client, user)
        page.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
    return page


def test_report_hide_approve_dismiss_and_show_again(new_page, live_server, setting, screen_name):
    campaign, organizer, letter, signed = setting
    heron, heron_receipt = signed["Heron"]
    finch, _receipt = signed["Finch"]
    visitor = page_for(new_page, live_server, screen_name)
    ada = page_for(new_page, live_server, screen_name, organizer)
    signatures_page = f"/letters/{letter.slug}/signatures/"

    # An anonymous visitor: the held text waits, the comment shows; they report it.
    visitor.goto(signatures_page)
    expect(visitor.get_by_text(COMMENT)).to_be_visible()
    expect(visitor.get_by_text("Text waiting for the organizers' review.")).to_be_visible()
    expect(visitor.get_by_text("I approve this letter.")).to_have_count(0)
    expect(visitor.get_by_role("link", name="Moderate")).to_have_count(0)
    assert fits_the_screen(visitor)
    shot(visitor, "moderation-1-public-list")
    visitor.get_by_role("link", name="Report Heron").click()
    expect(
        visitor.get_by_role("heading", name="Report a signature to the organizers")
    ).to_be_visible()
    visitor.get_by_role("button", name="Send the report").click()  # no reason chosen
    expect(visitor.get_by_text("Choose what is wrong with it.")).to_be_visible()
    # The browser notes the page's 400 status; nothing else may fail.
    assert [e for e in visitor.console_errors if "400 (Bad Request)" not in e] == []
    visitor.console_errors.clear()
    visitor.get_by_label("Exposes or identifies a person").check()
    visitor.get_by_label("Anything the organizers should know (optional)").fill(
        "It gives a colleague's home address."
    )
    assert fits_the_screen(visitor)
    shot(visitor, "moderation-2-report")
    visitor.get_by_role("button", name="Send the report").click()
    expect(visitor.get_by_text("Thank you: the organizers will look at it.")).to_be_visible()
    assert visitor.url.endswith(signatures_page)
    report = SignatureReport.objects.get()
    assert (report.signature_id, report.reason) == (heron.pk, "personal")
    SignatureReport.objects.create(signature=finch, reason="spam")

    # The organizer starts from the campaign's manage page.
    ada.goto("/c/acme/manage/")
    ada.get_by_role("link", name="Moderation", exact=True).click()
    expect(ada.get_by_role("heading", name="Moderation of Acme workers")).to_be_visible()
    reported = ada.locator(f"#reported-{heron.pk}")
    expect(reported).to_contain_text("1 report waiting")
    expect(reported).to_contain_text("It gives a colleague's home address.")
    expect(ada.locator(f"#held-{signed['T1m C00k'][0].pk}")).to_contain_text(
        "its pseudonym contains “Tim Cook”"
    )
    assert fits_the_screen(ada)
    shot(ada, "moderation-3-queue")

    # Hide the comment, with a reason and a note to the signer.
    reported.get_by_role("link", name="Hide…").click()
    ada.get_by_label("Comment", exact=True).check()
    ada.get_by_label("Reason", exact=True).select_option(label="Exposes or identifies a person")
    ada.get_by_label("Note to the signer (optional)").fill("It names a colleague's address.")
    assert fits_the_screen(ada)
    shot(ada, "moderation-4-hide")
    ada.get_by_role("button", name="Hide what is ticked").click()
    expect(ada.get_by_text("Hidden from the public list, the API and exports.")).to_be_visible()
    expect(ada.locator(f"#hidden-{heron.pk}")).to_contain_text("Hidden on")
    assert SignatureModeration.objects.get(signature=heron).hidden_fields == ("comment",)

    # Approve the held text; dismiss the report of Finch's.
    held = ada.locator(f"#held-{signed['T1m C00k'][0].pk}")
    held.get_by_role("button", name="Approve: show the text").click()
    expect(ada.get_by_text("Approved: its text is shown on the public list.")).to_be_visible()
    ada.locator(f"#reported-{finch.pk}").get_by_role("button", name="Dismiss the reports").click()
    expect(ada.get_by_text("Reports dismissed: the text stays as it is.")).to_be_visible()
    expect(ada.get_by_text("No report waits.")).to_be_visible()
    assert SignatureReport.objects.get(signature=finch).status == ReportStatus.DISMISSED
    shot(ada, "moderation-5-worked")

    # The public list: the comment is hidden in its place; the approved text shows.
    visitor.goto(signatures_page)
    expect(visitor.get_by_text("Comment hidden by the organizers.")).to_be_visible()
    expect(visitor.get_by_text(COMMENT)).to_have_count(0)
    expect(visitor.get_by_text("I approve this letter.")).to_be_visible()
    shot(visitor, "moderation-6-public-hidden")

    # The signer reads on the receipt page what was hidden, when and why.
    signer = page_for(new_page, live_server, screen_name)
    signer.goto("/receipts/")
    signer.get_by_label("Your receipt").fill(heron_receipt)
    signer.get_by_role("button", name="Check status").click()
    note = signer.locator("#receipt-moderation")
    expect(note).to_be_visible()
    expect(note).to_contain_text("the organizers hid from the public list your comment")
    expect(note).to_contain_text("Exposes or identifies a person")
    expect(note).to_contain_text("It names a colleague's address.")
    expect(signer.locator("#receipt-status")).to_have_text("Your signature is counted.")
    assert fits_the_screen(signer)
    shot(signer, "moderation-7-receipt")

    # Show it again.
    ada.goto("/c/acme/manage/moderation/")
    ada.locator(f"#hidden-{heron.pk}").get_by_role("button", name="Show again").click()
    expect(ada.get_by_text("Its text is shown again on the public list.")).to_be_visible()
    expect(ada.get_by_text("Nothing is hidden.")).to_be_visible()
    visitor.goto(signatures_page)
    expect(visitor.get_by_text(COMMENT)).to_be_visible()
    signer.get_by_role("button", name="Check status").click()
    expect(note).to_be_hidden()

    for page in (visitor, ada, signer):
        assert page.foreign_requests == []
        assert page.console_errors == []


def test_organizers_moderate_from_the_public_list(new_page, live_server, setting, screen_name):
    campaign, organizer, letter, signed = setting
    wren, _receipt = signed["Wren"]
    ada = page_for(new_page, live_server, screen_name, organizer)
    ada.goto(f"/letters/{letter.slug}/signatures/")
    ada.get_by_role("link", name="Moderate Wren").click()
    expect(ada.get_by_role("heading", name="Moderate a signature")).to_be_visible()
    ada.get_by_label("Reason", exact=True).select_option(label="Spam or off-topic")
    ada.get_by_role("button", name="Hide all of its text").click()
    expect(ada.get_by_text("Hidden from the public list, the API and exports.")).to_be_visible()
    assert len(SignatureModeration.objects.get(signature=wren).hidden_fields) == 5
    ada.goto(f"/letters/{letter.slug}/signatures/")
    expect(ada.locator(f"#signature-{wren.pk}")).to_contain_text("Hidden by the organizers")
    expect(ada.locator(f"#signature-{wren.pk}")).not_to_contain_text("Wren")
    assert fits_the_screen(ada)
    shot(ada, "moderation-8-public-list-organizer")
    assert ada.foreign_requests == [] and ada.console_errors == []
