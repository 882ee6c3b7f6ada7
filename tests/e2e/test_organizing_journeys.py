"""Organizing without dead ends, in Chromium on a phone and a desktop.

- An organizer starts a campaign: the short name is explained without
  jargon, gmail.com as a work domain needs an explicit confirmation, and the
  organizer is asked for the name others see (not "member-a79e73").
- From the invite-codes page the organizer reaches the invite-sheet page.
- A newcomer opens an invitation link, creates an account through the
  header's link (which carries no way back), confirms the emailed code, and
  still lands on the invitation, where they are asked for a display name.
- The letter's manage page counts an open letter's signatures, with groups
  spelled differently counted as one.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from organizing import services
from organizing.models import Campaign, Membership, Role
from tests.e2e.journeys import (
    DESKTOP,
    PHONE,
    no_horizontal_scroll,
    screenshot,
    sign_in,
    signed_in_page,
)
from tests.e2e.test_foundation_journey import assert_clean, mailed_code
from tests.signatures.factories import open_letter, sealed_batch
from tests.support.users import TEST_TOTP_SECRET, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"  # tests.support.factories.UserFactory


def visible_text(page) -> str:
    return page.locator("main").inner_text()


@pytest.mark.parametrize("viewport_name", ["phone", "desktop"])
def test_an_organizer_starts_a_campaign_and_finds_the_invite_sheet(
    new_page, live_server, viewport_name
):
    viewport = {"phone": PHONE, "desktop": DESKTOP}[viewport_name]
    organizer = make_user(mfa=True, email=f"ada-{viewport_name}@personal.test")
    page = new_page()
    page.set_viewport_size(viewport)
    sign_in(page, organizer.email, PASSWORD, totp_secret=TEST_TOTP_SECRET)

    page.goto("/organize/new/")
    expect(page.get_by_label("Short name for web addresses")).to_be_visible()
    expect(page.locator("main")).to_contain_text("/c/fair-pay/")
    page.fill("#id_name", "Fair pay")
    page.fill("#id_slug", "fair pay")
    page.fill("#id_employer_name", "Initech")
    page.fill("#id_allowed_domains", "initech.example\ngmail.com")
    assert page.locator("#id_confirm_public_domains").count() == 0
    page.click("main form button[type=submit]")

    # One answer says all that is wrong, in words a person understands.
    text = visible_text(page)
    assert "Use only letters, digits, hyphens and underscores" in text
    assert "slug" not in text.lower()
    assert "gmail.com is a public mail provider: anyone can get an address there" in text
    assert "This field is required." in text  # the display name
    confirm = page.locator("#id_confirm_public_domains")
    expect(confirm).to_be_visible()
    assert no_horizontal_scroll(page)
    screenshot(page, f"organizing-1-create-refused-{viewport_name}")

    page.fill("#id_slug", "fair-pay")
    page.check("#id_confirm_public_domains")
    page.fill("#id_display_name", "Ada")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/c/fair-pay/manage/")
    expect(page.locator(".member-name")).to_have_text(["Ada"])
    campaign = Campaign.objects.get(slug="fair-pay")
    assert campaign.allowed_domains == ["initech.example", "gmail.com"]
    assert Membership.objects.get(campaign=campaign, user=organizer).display_name == "Ada"
    screenshot(page, f"organizing-2-manage-{viewport_name}")

    # The invite-codes page leads to the page that prints sheets.
    page.get_by_role("link", name="Invite codes").first.click()
    page.wait_for_url("**/c/fair-pay/invite-codes/")
    assert "command line" not in visible_text(page)
    page.locator("#invite-sheet-hint").get_by_role(
        "link", name="print a sheet of invite codes"
    ).click()
    page.wait_for_url("**/c/fair-pay/invite-sheet/")
    expect(page.locator("h1")).to_have_text("Print invite codes")
    assert no_horizontal_scroll(page)
    screenshot(page, f"organizing-3-invite-sheet-{viewport_name}")
    assert_clean(page)


def test_an_invitation_survives_sign_up_by_the_header_link_and_confirmation(
    new_page, live_server, roles
):
    created = services.invitation_create(actor=roles.organizer, campaign=roles.campaign)
    newcomer = new_page()
    newcomer.set_viewport_size(PHONE)
    newcomer.goto(f"/join/{created.token}/")
    expect(newcomer.locator("main")).to_contain_text("You need an account to join.")
    screenshot(newcomer, "invitation-1-link-phone")

    # Not the page's own button: the header's "Create account", with no way back.
    newcomer.locator("header").get_by_role("link", name="Create account").click()
    newcomer.wait_for_url(re.compile(r".*/accounts/signup/$"))
    newcomer.fill("#id_email", "newcomer@personal.test")
    newcomer.fill("#id_password1", "a long pass phrase 9")
    newcomer.fill("#id_password2", "a long pass phrase 9")
    newcomer.click("main form button[type=submit]")
    newcomer.wait_for_url("**/accounts/confirm-email/")
    newcomer.fill("#id_code", mailed_code("newcomer@personal.test"))
    newcomer.click("main form button[type=submit]")

    # Back on the invitation, asked for the name the others will see.
    newcomer.wait_for_url(f"**/join/{created.token}/")
    assert "not part of a campaign" not in visible_text(newcomer)
    expect(newcomer.get_by_label("Your display name in this campaign")).to_be_visible()
    expect(newcomer.locator("main")).to_contain_text("A pseudonym is fine")
    name = newcomer.locator("#id_display_name")
    newcomer.get_by_role("button", name="Join").click()
    assert name.evaluate("field => field.validity.valueMissing")  # the browser asks first
    name.fill("   ")  # and the server, for what the browser lets through
    newcomer.get_by_role("button", name="Join").click()
    expect(newcomer.locator(".field-error")).to_contain_text("This field is required.")
    screenshot(newcomer, "invitation-2-name-required-phone")
    newcomer.fill("#id_display_name", "Quiet fox")
    newcomer.get_by_role("button", name="Join").click()
    newcomer.wait_for_url(f"**/c/{roles.campaign.slug}/")
    expect(newcomer.locator(".messages")).to_contain_text("Welcome to Acme workers")
    assert no_horizontal_scroll(newcomer)
    screenshot(newcomer, "invitation-3-joined-phone")
    joined = Membership.objects.get(user__email="newcomer@personal.test")
    assert (joined.campaign, joined.role, joined.display_name) == (
        roles.campaign,
        Role.MEMBER,
        "Quiet fox",
    )

    # Signing in later goes to the dashboard: the invitation was used.
    newcomer.locator("header").get_by_role("button", name="Sign out").click()
    expect(newcomer.locator("header").get_by_role("link", name="Sign in")).to_be_visible()
    sign_in(newcomer, "newcomer@personal.test", "a long pass phrase 9")
    assert newcomer.url.endswith("/organize/")
    assert "You were invited" not in visible_text(newcomer)
    assert_clean(newcomer)


def test_the_manage_page_counts_an_open_letter_with_one_spelling_per_group(
    new_page, live_server, roles
):
    letter = open_letter(roles.campaign, slug="count-me", title="Count me")
    spellings = ["Warehouse", "warehouse", "WAREHOUSE", "Warehouse", "warehouse "]
    sealed_batch(
        letter,
        [
            {"pseudonym": f"p{i}", "department": department}
            for i, department in enumerate(spellings)
        ],
    )
    for viewport_name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = signed_in_page(new_page, live_server, roles.organizer, viewport=viewport)
        page.goto(f"/c/{roles.campaign.slug}/letters/{letter.pk}/")
        figures = page.locator("#letter-figures")
        expect(figures).to_contain_text("5 signatures of a goal of 100")
        expect(figures.locator("table tbody tr")).to_have_text([re.compile(r"Warehouse\s*5")])
        screenshot(page, f"aggregates-manage-{viewport_name}")
        box = figures.bounding_box()
        assert box["x"] + box["width"] <= viewport["width"]
    # The public page counts the same group.
    visitor = new_page()
    visitor.goto(f"/letters/{letter.slug}/")
    groups = visitor.get_by_role("region", name="Who signed")
    expect(groups.locator("table.figures tbody tr")).to_have_text([re.compile(r"Warehouse\s*5")])
