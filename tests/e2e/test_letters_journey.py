"""Two organizers draft a letter together in Chromium, comment, send it to
review, both approve, it opens, and an anonymous visitor reads it with its
text hash."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from letters.models import Comment, Letter, LetterState
from letters.services import compute_text_hash
from organizing.models import Role
from tests.support.factories import CampaignFactory, MembershipFactory
from tests.support.sessions import login_with_mfa
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _logged_in_page(new_page, live_server, user):
    """A page whose context carries a session for `user` (MFA already enabled)."""
    client = Client()
    login_with_mfa(client, user)
    page = new_page()
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


def test_two_organizers_draft_approve_open_and_a_visitor_reads(new_page, live_server):
    campaign = CampaignFactory(slug="acme", name="Acme workers", approval_quorum=2)
    ada = make_user(mfa=True, email="ada@personal.test")
    kim = make_user(mfa=True, email="kim@personal.test")
    MembershipFactory(campaign=campaign, user=ada, role=Role.ORGANIZER, display_name="Ada")
    MembershipFactory(campaign=campaign, user=kim, role=Role.ORGANIZER, display_name="Kim")
    ada_page = _logged_in_page(new_page, live_server, ada)
    kim_page = _logged_in_page(new_page, live_server, kim)

    # Ada starts a draft from the campaign's management page, previewing first.
    ada_page.goto("/c/acme/manage/")
    ada_page.get_by_role("link", name="Letters", exact=True).click()
    ada_page.get_by_role("link", name="Start a new letter").click()
    ada_page.get_by_label("Title").fill("Stop logging our keystrokes")
    ada_page.get_by_label("Short name for the address (optional)").fill("stop-logging")
    ada_page.get_by_label("Text (Markdown)").fill("Dear leadership,\n\nplease **stop** it.")
    ada_page.get_by_label("Demands (one per line)").fill("Switch it off\nDelete the logs")
    ada_page.get_by_role("button", name="Preview").click()
    expect(ada_page.get_by_role("heading", name="Preview (not saved yet)")).to_be_visible()
    expect(ada_page.locator(".preview strong")).to_have_text("stop")
    assert Letter.objects.count() == 0
    ada_page.get_by_role("button", name="Create draft").click()
    expect(ada_page.locator("#letter-state")).to_have_text("Draft")
    letter = Letter.objects.get()
    detail = f"/c/acme/letters/{letter.pk}/"

    # Ada comments; Kim replies, edits the text and resolves the thread.
    ada_page.get_by_label("Comment", exact=True).fill("Should we ask for a written answer?")
    ada_page.get_by_role("button", name="Comment on revision 1").click()
    expect(ada_page.get_by_text("Should we ask for a written answer?")).to_be_visible()

    kim_page.goto(detail)
    thread = Comment.objects.get()
    kim_page.locator(f"#reply-{thread.pk}").fill("Yes, adding it now.")
    kim_page.get_by_role("button", name="Reply").click()
    expect(kim_page.get_by_text("Yes, adding it now.")).to_be_visible()
    kim_page.get_by_role("link", name="Edit", exact=True).first.click()
    kim_page.get_by_label("Text (Markdown)").fill(
        "Dear leadership,\n\nplease **stop** it and answer us in writing."
    )
    kim_page.get_by_label("Note about this change (optional)").fill("written answer")
    kim_page.get_by_role("button", name="Save a new revision").click()
    expect(kim_page.get_by_text("Saved as revision 2.")).to_be_visible()
    kim_page.get_by_role("button", name="Resolve thread").click()
    expect(kim_page.locator(f"#comment-{thread.pk} .badge")).to_have_text("resolved")

    # Ada sees the change word by word, then sends the letter to review.
    ada_page.goto(detail)
    ada_page.get_by_role("link", name="History").click()
    ada_page.get_by_role("button", name="Show differences").click()
    expect(ada_page.locator(".diff ins.diff-ins").first).to_contain_text("answer us in writing")
    ada_page.goto(detail)
    ada_page.get_by_role("button", name="Submit for review").click()
    expect(ada_page.locator("#letter-state")).to_have_text("In review")

    # Both approve; the second approval makes opening possible.
    ada_page.get_by_role("button", name="Approve revision 2").click()
    expect(ada_page.locator("#approval-count")).to_have_text("1 of 2 approvals needed to open.")
    expect(ada_page.get_by_role("button", name="Open for signatures")).to_have_count(0)
    kim_page.goto(detail)
    kim_page.get_by_role("button", name="Approve revision 2").click()
    expect(kim_page.locator("#approval-count")).to_have_text("2 of 2 approvals needed to open.")
    kim_page.get_by_role("button", name="Open for signatures").click()
    expect(kim_page.locator("#letter-state")).to_have_text("Open for signatures")

    letter.refresh_from_db()
    assert letter.state == LetterState.OPEN
    expected_hash = compute_text_hash(
        title="Stop logging our keystrokes",
        body="Dear leadership,\n\nplease **stop** it and answer us in writing.",
        demands=["Switch it off", "Delete the logs"],
    )
    assert letter.text_hash == expected_hash

    # An anonymous visitor reads the open letter and its text hash, without JavaScript.
    visitor = new_page()
    visitor.goto("/letters/stop-logging/")
    expect(
        visitor.get_by_role("heading", name="Stop logging our keystrokes", level=1)
    ).to_be_visible()
    expect(visitor.locator(".letter-body strong")).to_have_text("stop")
    expect(visitor.get_by_role("listitem").filter(has_text="Delete the logs")).to_be_visible()
    expect(visitor.locator("#text-hash")).to_have_text(expected_hash)
    expect(visitor.locator("html")).to_have_attribute("lang", "en")
    expect(visitor.locator("#goal-progress")).to_have_attribute("max", re.compile(r"^\d+$"))

    no_js_context = visitor.context.browser.new_context(
        base_url=live_server.url, java_script_enabled=False
    )
    try:
        plain = no_js_context.new_page()
        plain.goto("/letters/stop-logging/")
        expect(plain.locator("#text-hash")).to_have_text(expected_hash)
        expect(plain.get_by_text("please")).to_be_visible()
    finally:
        no_js_context.close()

    for page in (ada_page, kim_page, visitor):
        assert page.foreign_requests == []
        assert page.console_errors == []
