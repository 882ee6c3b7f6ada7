"""Running a campaign in Chromium, as each role, on a desktop and a phone:
the organizer's overview and an update posted from it; the public letter
page with its updates, its chart, its table and its feed; a delegate who
records the delivery and posts the ready update; a signer's receipt with
the updates; a member and a visitor who are kept out of the overview.

Screenshots go to E2E_SCREENSHOTS (a folder) when it is set, to look at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import uuid
from pathlib import Path

import feedparser
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from letters.models import LetterState, Update
from organizing.models import Role
from signatures.models import Issuance
from tests.petitions.factories import make_done_export, make_letter
from tests.signatures.factories import sealed_batch
from tests.support.factories import CampaignFactory, MembershipFactory
from tests.support.sessions import login_with_mfa
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def shot(page, name: str) -> None:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def fits_the_screen(page) -> None:
    """Nothing wider than the viewport (no sideways scrolling on a phone)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(
        """[...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5)
        .map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)"""
    )
    assert overflow <= 0, (overflow, wide)


def clean(page, *, expected_status=None) -> None:
    """No third-party request, no console error (a CSP violation is one);
    the browser's note of an answer's `expected_status` excepted."""
    assert page.foreign_requests == []
    note = f"status of {expected_status}"
    assert [e for e in page.console_errors if not (expected_status and note in e)] == []


def as_user(new_page, live_server, user, viewport):
    page = new_page()
    page.set_viewport_size(viewport)
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


@pytest.fixture
def campaign():
    campaign = CampaignFactory(slug="acme", name="Acme workers", k_threshold=5)
    people = {}
    for role, name in [
        (Role.ORGANIZER, "Ada"),
        (Role.DELEGATE, "Dee"),
        (Role.MEMBER, "Mo"),
    ]:
        user = make_user(mfa=role != Role.MEMBER, email=f"{name.lower()}@personal.test")
        MembershipFactory(campaign=campaign, user=user, role=role, display_name=name)
        people[role] = user
    campaign.people = people
    return campaign


def signatures_over_days(letter, per_day: list[int], *, department="Legal") -> None:
    """Signatures sealed into the letter's log, one batch per day (the count
    shown is the log's), and the tokens issued on those days."""
    start = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
    start -= dt.timedelta(days=len(per_day) - 1)
    tokens = []
    for offset, n in enumerate(per_day):
        hour = start + dt.timedelta(days=offset)
        if n:
            sealed_batch(letter, [{"department": department} for _ in range(n)], now=hour)
        tokens += [
            Issuance(letter=letter, identity_hmac=uuid.uuid4().hex * 2, issued_on=hour.date())
            for _ in range(n)
        ]
    Issuance.objects.bulk_create(tokens)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_organizer_posts_an_update_and_a_visitor_follows_it(
    viewport, campaign, new_page, live_server
):
    name = "desktop" if viewport is DESKTOP else "phone"
    letter = make_letter(
        campaign,
        slug="stop-logging",
        state=LetterState.OPEN,
        goal=60,
        opened_at=timezone.now() - dt.timedelta(days=6),
        closed_at=None,
    )
    signatures_over_days(letter, [8, 1, 2, 6, 0, 9, 5])

    organizer = as_user(new_page, live_server, campaign.people[Role.ORGANIZER], viewport)
    organizer.goto("/c/acme/manage/")
    card = organizer.locator(f"#overview-letter-{letter.pk}")
    expect(card).to_contain_text("31 signatures of 60")
    expect(card).to_contain_text("31 tokens issued")
    expect(card).to_contain_text("Departments: Legal 31")
    fits_the_screen(organizer)
    shot(organizer, f"overview-organizer-{name}")
    card.get_by_role("link", name="Post or edit updates").click()
    organizer.get_by_label("Title of the update").fill("Leadership agreed to meet us")
    organizer.get_by_label("What happened (Markdown)").fill("We meet them on **Friday**.")
    organizer.get_by_role("button", name="Preview").click()
    expect(organizer.locator(".preview strong")).to_have_text("Friday")
    assert not Update.objects.exists()
    organizer.get_by_role("button", name="Post the update").click()
    expect(organizer.get_by_text("The update is posted: it is public now.")).to_be_visible()
    shot(organizer, f"updates-organizer-{name}")
    clean(organizer)

    visitor = as_user(new_page, live_server, None, viewport)
    visitor.goto(f"/letters/{letter.slug}/")
    update = Update.objects.get()
    expect(visitor.locator(f"#update-{update.pk}")).to_contain_text("We meet them on Friday.")
    expect(visitor.get_by_text("Latest update:")).to_be_visible()
    expect(visitor.locator(".timeline-chart")).to_be_visible()
    bars = visitor.locator(".timeline-bar")
    # 8 | 1+2+6=9 (merged: the 1 and the 2 are quiet) | 0 | 9 | 5
    assert bars.count() == 5
    table = visitor.get_by_role("table", name="Signatures and tokens issued per day")
    expect(table).to_be_attached()
    assert table.locator("tbody tr").count() == 5
    expect(visitor.get_by_text("Quieter days are grouped")).to_be_visible()
    box = visitor.locator(".timeline-chart").bounding_box()
    assert box["width"] <= viewport["width"] and box["height"] > 100
    fits_the_screen(visitor)
    shot(visitor, f"letter-public-{name}")
    with visitor.expect_download() as download:
        visitor.get_by_role("link", name="CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "from,to,signatures,tokens_issued,total"
    assert len(lines) == 6 and lines[-1].endswith(",5,5,31")
    feed_href = visitor.locator('link[rel="alternate"][type="application/atom+xml"]').get_attribute(
        "href"
    )
    feed = feedparser.parse(visitor.request.get(feed_href).body())
    assert feed.bozo == 0 and [e.title for e in feed.entries] == ["Leadership agreed to meet us"]
    clean(visitor)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_delegate_records_the_delivery_and_posts_the_ready_update(
    viewport, campaign, new_page, live_server
):
    name = "desktop" if viewport is DESKTOP else "phone"
    letter = make_letter(campaign, slug="deliver-me", state=LetterState.CLOSED, goal=20)
    signatures_over_days(letter, [6, 7])
    draft_title = "A draft only organizers see"
    make_letter(campaign, slug="a-draft", state=LetterState.DRAFT, title=draft_title)
    export = make_done_export(letter, created_by=campaign.people[Role.DELEGATE])

    delegate = as_user(new_page, live_server, campaign.people[Role.DELEGATE], viewport)
    delegate.goto("/c/acme/manage/")
    expect(delegate.get_by_text(draft_title)).to_have_count(0)
    expect(delegate.get_by_role("heading", name="Members")).to_have_count(0)
    fits_the_screen(delegate)
    shot(delegate, f"overview-delegate-{name}")
    delegate.get_by_role("link", name="An export is ready to deliver: record the delivery.").click()
    delegate.get_by_label("Delivered at (UTC)").fill("2024-05-06T10:30")
    delegate.get_by_label("Delivered to").fill("The board")
    delegate.get_by_label("How").select_option("in_person")
    delegate.get_by_role("button", name="Record the delivery").click()
    ready = delegate.locator("#ready-update")
    expect(ready).to_be_visible()
    expect(ready.get_by_label("Title of the update")).to_have_value("Delivered to The board")
    body = ready.get_by_label("What happened (Markdown)")
    expect(body).to_have_value(re.compile(r"^On 6 May 2024 we delivered this letter, with the 13"))
    fits_the_screen(delegate)
    shot(delegate, f"ready-update-delegate-{name}")
    body.fill(body.input_value() + " They promised an answer within a week.")
    ready.get_by_role("button", name="Post the update").click()
    expect(delegate.get_by_text("The update is posted: it is public now.")).to_be_visible()
    assert Update.objects.get().author == campaign.people[Role.DELEGATE]
    delegate.goto(f"/c/acme/exports/{export.pk}/")
    expect(delegate.locator("#ready-update")).to_have_count(0)
    clean(delegate)

    visitor = as_user(new_page, live_server, None, viewport)
    visitor.goto("/letters/deliver-me/")
    expect(visitor.get_by_role("heading", name="Delivered to The board")).to_be_visible()
    expect(visitor.get_by_text("They promised an answer within a week.")).to_be_visible()
    clean(visitor)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_signer_reads_the_updates_with_the_receipt(viewport, campaign, new_page, live_server):
    name = "desktop" if viewport is DESKTOP else "phone"
    letter = make_letter(campaign, slug="signed", state=LetterState.OPEN, closed_at=None)
    receipt = "receipt-for-the-browser-" + "x" * 24
    sealed_batch(
        letter,
        [
            {
                "receipt_hash": hashlib.sha256(receipt.encode()).hexdigest(),
                "pseudonym": "Quiet Heron",
            }
        ],
    )
    Update.objects.create(letter=letter, title="We reached 50", body="Thank **you**.")
    page = as_user(new_page, live_server, None, viewport)
    page.goto("/receipts/")
    expect(page.locator("#receipt-updates")).to_be_hidden()
    page.get_by_label("Your receipt").fill(receipt)
    page.get_by_role("button", name="Check status").click()
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    section = page.locator("#receipt-updates")
    expect(section).to_be_visible()
    expect(section.get_by_role("heading", name="We reached 50")).to_be_visible()
    expect(section.get_by_text("Thank you.")).to_be_visible()
    fits_the_screen(page)
    shot(page, f"receipt-updates-{name}")
    section.get_by_role("link", name="Read it on the letter’s page").click()
    expect(page).to_have_url(re.compile(r"/letters/signed/#update-"))
    clean(page)
    # A wrong receipt hides them again (the browser logs the API's 404).
    page.goto("/receipts/")
    page.get_by_label("Your receipt").fill("y" * 43)
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-error")).to_have_text(
        "No signature has this receipt. Check that you pasted all of it."
    )
    expect(page.locator("#receipt-updates")).to_be_hidden()
    clean(page, expected_status=404)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_members_and_visitors_stay_out_of_the_overview(viewport, campaign, new_page, live_server):
    name = "desktop" if viewport is DESKTOP else "phone"
    make_letter(campaign, slug="public-one", state=LetterState.OPEN)
    member = as_user(new_page, live_server, campaign.people[Role.MEMBER], viewport)
    member.goto("/c/acme/")
    expect(member.get_by_role("link", name="Manage the campaign")).to_have_count(0)
    expect(member.get_by_role("link", name="Atom feed")).to_be_visible()
    response = member.goto("/c/acme/manage/")
    assert response.status == 403
    expect(member.get_by_role("heading", name="Not allowed")).to_be_visible()
    fits_the_screen(member)
    shot(member, f"overview-member-{name}")
    clean(member, expected_status=403)

    visitor = as_user(new_page, live_server, None, viewport)
    visitor.goto("/c/acme/manage/")
    expect(visitor).to_have_url(re.compile(r"/accounts/login/\?next=/c/acme/manage/"))
    visitor.goto("/c/acme/")
    feed = visitor.locator('link[rel="alternate"][type="application/atom+xml"]')
    assert feed.get_attribute("href") == "/c/acme/updates.atom"
    clean(visitor)
