"""The foundation's journey in a real browser: an organizer signs up (code
from the mail), enables TOTP, creates a campaign and an invitation link; a
second person signs up in another browser context and joins with it. No
request ever leaves the site's origin, and the CSP blocks nothing."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.core import mail

from organizing.mfa import totp_current_code
from organizing.models import Campaign, Membership, Role

PASSWORD = "a long pass phrase 9"
CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.M)


def mailed_code(to: str) -> str:
    message = [m for m in mail.outbox if m.to == [to]][-1]
    return CODE.search(message.body).group(1)


def sign_up(page, email: str) -> None:
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    page.fill("#id_code", mailed_code(email))
    page.click("main form button[type=submit]")


def assert_clean(page) -> None:
    assert page.foreign_requests == []
    csp = [e for e in page.console_errors if "Content Security Policy" in e or "Refused" in e]
    assert csp == []


@pytest.mark.django_db(transaction=True)
def test_organizer_signs_up_enables_totp_creates_campaign_and_invites(new_page, live_server):
    organizer = new_page()

    # Sign up with a code typed from the mail.
    organizer.goto("/accounts/signup/")
    sign_up(organizer, "ada@personal.test")
    organizer.wait_for_url("**/organize/")
    assert organizer.locator("h1").inner_text() == "Your campaigns"
    assert organizer.get_by_text("must use two-factor authentication").is_visible()

    # Starting a campaign asks for a second factor first.
    organizer.goto("/organize/new/")
    assert "Two-factor authentication required" in organizer.locator("h1").inner_text()

    # Enable TOTP: allauth asks for the password again, then shows the secret.
    organizer.goto("/accounts/2fa/totp/activate/")
    organizer.wait_for_url("**/accounts/reauthenticate/**")
    organizer.fill("#id_password", PASSWORD)
    organizer.click("main form button[type=submit]")
    organizer.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = organizer.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    assert organizer.locator("img[src^='data:image/svg+xml']").is_visible()  # the QR code
    organizer.fill("#id_code", totp_current_code(secret))
    organizer.click("main form button[type=submit]")
    organizer.wait_for_url("**/accounts/2fa/recovery-codes/**")

    # Create a campaign.
    organizer.goto("/organize/new/")
    organizer.fill("#id_name", "Stop keystroke logging")
    organizer.fill("#id_slug", "keystrokes")
    organizer.fill("#id_employer_name", "Example Corp")
    organizer.fill("#id_allowed_domains", "example.com")
    organizer.fill("#id_display_name", "Ada")
    organizer.click("main form button[type=submit]")
    organizer.wait_for_url("**/c/keystrokes/manage/")
    assert "Campaign created" in organizer.locator(".messages").inner_text()

    # Create an invitation link (defaults: one member, seven days).
    organizer.click("text=Create invitation link")
    organizer.wait_for_url("**/c/keystrokes/invitations/")
    link = organizer.input_value("[data-testid=invite-link]")
    assert link.startswith(live_server.url + "/join/")
    assert_clean(organizer)

    # A second person, in a separate browser context, signs up and joins.
    member = new_page()
    member.goto(urlparse(link).path)
    assert member.get_by_text("Protect yourself").is_visible()
    member.click("main >> text=Create an account")
    member.wait_for_url("**/accounts/signup/**")
    sign_up(member, "grace@personal.test")
    # Confirming the address leads back to the invitation.
    member.wait_for_url(f"**{urlparse(link).path}")
    member.fill("#id_display_name", "Night owl")
    member.click("main form button[type=submit]")
    member.wait_for_url("**/c/keystrokes/")
    assert "Welcome to Stop keystroke logging" in member.locator(".messages").inner_text()
    assert "You are a Member" in member.locator("main").inner_text()
    assert_clean(member)

    campaign = Campaign.objects.get(slug="keystrokes")
    joined = Membership.objects.get(campaign=campaign, user__email="grace@personal.test")
    assert (joined.role, joined.display_name) == (Role.MEMBER, "Night owl")

    # The organizer sees the new member on the dashboard.
    organizer.goto("/c/keystrokes/manage/")
    assert organizer.locator(".member-name", has_text="Night owl").is_visible()
    assert "1 of 1 used" in organizer.locator("main").inner_text()
    assert_clean(organizer)


@pytest.mark.django_db(transaction=True)
def test_main_pages_make_no_request_to_another_origin(page, live_server):
    from django.core.management import call_command

    call_command("seed_demo", verbosity=0)
    for path in (
        "/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/c/demo/",
        "/join/not-a-token/",
        "/no-such-page/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto("/accounts/login/")
    page.fill("#id_login", "member@demo.invalid")
    page.fill("#id_password", "demo-member-pass")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/organize/")
    for path in ("/organize/", "/c/demo/", "/accounts/2fa/", "/accounts/email/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert_clean(page)
