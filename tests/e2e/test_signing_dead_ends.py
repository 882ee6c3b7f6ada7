"""The signing and receipt pages' dead ends of issue 16 (items 1 to 7), each
done in Chromium as the person did it: pressing Enter, double-clicking,
opening a QR link, pasting the downloaded receipt file; on a phone and on a
desktop screen.

E2E_SCREENSHOTS=<folder> saves a screenshot of each main page state there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import expect

from letters.models import LetterState
from petitions.models import Delivery, Export, ExportStatus
from signatures.models import Attestation, Issuance, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
from tests.support.factories import CampaignFactory

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True},
    "desktop": {"viewport": {"width": 1366, "height": 900}},
}
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, new_page):
    page = new_page(**VIEWPORTS[request.param])
    page.screen_name = request.param
    return page


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}-{page.screen_name}.png", full_page=True)


def posts(page, path_part: str) -> list[str]:
    """The POST requests the page sends to URLs containing path_part, as they go."""
    seen: list[str] = []
    page.on(
        "request",
        lambda request: (
            seen.append(request.url)
            if request.method == "POST" and path_part in request.url
            else None
        ),
    )
    return seen


def signing_letter():
    campaign = CampaignFactory(
        slug="acme", name="Acme workers", allowed_domains=["example.com"], k_threshold=5
    )
    Attestation.objects.create(campaign=campaign, text="I am a current employee")
    return open_letter(campaign, slug="stop-logging", title="Stop keystroke logging")


def sent_code(message) -> str:
    match = re.search(r"Your code: (\d{4}) (\d{4})", message.body)
    assert match, message.body
    return match.group(1) + match.group(2)


def verify_with_invite_code(page, code: str) -> None:
    page.get_by_label("An invite code from an organizer").check()
    page.get_by_label("Invite code", exact=True).fill(code)
    page.locator("#verify-invite").click()
    expect(page.locator("#step-sign")).to_be_visible()


def sign(page, pseudonym: str = "Quiet Heron 7") -> str:
    page.get_by_label("Pseudonym (shown publicly)").fill(pseudonym)
    page.get_by_label("I am a current employee").check()
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.get_by_role("heading", name="Signed. Save your receipt now.")).to_be_visible()
    return page.locator("#receipt").input_value()


def finish(page, *, refusals: int = 0) -> None:
    """No third-party request and no script error; `refusals` 4xx answers the
    test provoked on purpose (Chromium logs each as a console error)."""
    assert page.foreign_requests == []
    refused = [e for e in page.console_errors if re.search(r"status of 4\d\d", e)]
    assert len(refused) == refusals, page.console_errors
    assert [e for e in page.console_errors if e not in refused] == []


# --- 1 and 7: the email code --------------------------------------------------------


def test_enter_in_the_code_box_verifies_and_only_the_newest_code_counts(screen):
    page = screen
    letter = signing_letter()
    tokens = posts(page, "/tokens")
    page.goto(f"/letters/{letter.slug}/sign/")
    address = page.get_by_label("Work email address")
    code_box = page.get_by_label("Code from the email")
    address.fill("ann.lee@example.com")
    address.press("Enter")  # Enter in the address sends a code
    expect(page.locator("#sign-status")).to_contain_text("a code is on its way")
    assert len(mail.outbox) == 1
    first = sent_code(mail.outbox[0])
    # The email the employer's mail system reads names no letter, no campaign.
    assert mail.outbox[0].subject == "Your verification code"
    for revealing in ("keystroke", "Acme", "stop-logging"):
        assert revealing not in mail.outbox[0].subject + mail.outbox[0].body

    # Enter with no code asks for it (item 4) and sends nothing.
    code_box.press("Enter")
    expect(page.locator("#sign-error")).to_have_text(
        "Type the code from the email first, then press Verify."
    )
    expect(code_box).to_be_focused()
    assert tokens == [] and len(mail.outbox) == 1

    # A new code empties the box: the earlier code no longer works.
    code_box.fill(first)
    page.get_by_role("button", name="Send a new code").click()
    expect(page.locator("#sign-status")).to_contain_text("Only the newest code works")
    expect(code_box).to_have_value("")
    assert len(mail.outbox) == 2
    shot(page, "1-email-new-code")
    # Typed anyway, the older code is refused with the reason.
    code_box.fill(first)
    code_box.press("Enter")
    expect(page.locator("#sign-error")).to_contain_text("Only the newest code sent to this")
    assert len(tokens) == 1

    # Enter in the code box verifies, once however often it is pressed.
    code_box.fill(sent_code(mail.outbox[1]))
    code_box.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#step-sign")).to_be_visible()
    page.keyboard.press("Enter")  # pressed twice: the second must not sign
    expect(page.locator("#step-sign")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#sign-error")).to_have_text("")
    assert len(tokens) == 2
    assert len(mail.outbox) == 2  # Enter never sent another code
    assert Issuance.objects.count() == 1
    finish(page, refusals=1)


# --- 2: the QR link ---------------------------------------------------------------------


def test_a_qr_link_fills_in_the_invite_code_and_leaves_no_trace(screen):
    page = screen
    letter = signing_letter()
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    # What an invite sheet's QR code opens (petitions.render: <sign URL>#invite=<code>).
    page.goto(f"/letters/{letter.slug}/sign/#invite={code}")
    expect(page.get_by_label("An invite code from an organizer")).to_be_checked()
    expect(page.get_by_label("Invite code", exact=True)).to_have_value(code)
    expect(page.get_by_label("Invite code", exact=True)).to_be_visible()
    expect(page.get_by_label("Work email address")).to_be_hidden()
    expect(page.locator("#sign-status")).to_have_text(
        "The invite code from your link is filled in. Press Verify."
    )
    # The code is out of the address bar and of the history entry at once.
    assert code not in page.url and "#" not in page.url
    assert page.evaluate("location.hash") == ""
    shot(page, "2-qr-link")
    page.get_by_role("button", name="Verify", exact=True).locator("visible=true").click()
    expect(page.locator("#step-sign")).to_be_visible()
    assert Issuance.objects.count() == 1
    page.goto("/receipts/")
    page.go_back()
    assert code not in page.url
    finish(page)


# --- 3: every action does one thing ----------------------------------------------------


def test_double_clicks_do_one_thing_on_the_signing_and_receipt_pages(screen):
    page = screen
    letter = signing_letter()
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    codes, tokens, signatures = (
        posts(page, "/email-codes"),
        posts(page, "/tokens"),
        posts(page, "/signatures"),
    )
    page.goto(f"/letters/{letter.slug}/sign/")
    page.get_by_label("Work email address").fill("ann.lee@example.com")
    page.get_by_role("button", name="Send me a code").dblclick()
    expect(page.locator("#sign-status")).to_contain_text("a code is on its way")
    page.wait_for_load_state("networkidle")
    assert len(codes) == 1 and len(mail.outbox) == 1

    page.get_by_label("An invite code from an organizer").check()
    page.get_by_label("Invite code", exact=True).fill(code)
    page.locator("#verify-invite").dblclick()
    expect(page.locator("#step-sign")).to_be_visible()
    page.wait_for_load_state("networkidle")
    # Not "You already received a signing token": one request, one token.
    expect(page.locator("#sign-error")).to_have_text("")
    assert len(tokens) == 1 and Issuance.objects.count() == 1

    page.get_by_label("Pseudonym (shown publicly)").fill("Quiet Heron 7")
    page.get_by_label("I am a current employee").check()
    page.get_by_role("button", name="Sign the letter").dblclick()
    expect(page.get_by_role("heading", name="Signed. Save your receipt now.")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#step-done")).to_be_visible()
    expect(page.locator("#sign-error")).to_have_text("")
    assert len(signatures) == 1 and Signature.objects.count() == 1
    receipt = page.locator("#receipt").input_value()

    checks, withdrawals = posts(page, "/receipts/status"), posts(page, "/receipts/withdraw")
    page.get_by_role("link", name="Check or withdraw").click()
    page.get_by_label("Your receipt").fill(receipt)
    page.get_by_role("button", name="Check status").dblclick()
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert len(checks) == 1
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Withdraw my signature").dblclick()
    expect(page.get_by_text("Your signature has been withdrawn.")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert len(withdrawals) == 1 and len(dialogs) == 1
    expect(page.locator("#receipt-error")).to_have_text("")
    assert Signature.objects.get().withdrawn
    finish(page)


# --- 4: after signing ----------------------------------------------------------------


def test_after_signing_the_figures_refresh_and_the_receipt_copies(screen):
    page = screen
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    letter = signing_letter()
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    tokens = posts(page, "/tokens")
    page.goto(f"/letters/{letter.slug}/sign/")
    expect(page.locator("#figure-count")).to_have_text("0 signatures of 100")
    expect(page.locator("#figure-tokens")).to_have_text("0 signing tokens issued")

    # "Verify" with no code asks for it, and sends nothing.
    page.get_by_label("An invite code from an organizer").check()
    page.locator("#verify-invite").click()
    expect(page.locator("#sign-error")).to_have_text("Type the invite code you were given first.")
    assert tokens == []
    verify_with_invite_code(page, code)

    # Errors name what the person sees, not a JSON field.
    pseudonym = page.get_by_label("Pseudonym (shown publicly)")
    pseudonym.fill("")
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.locator("#sign-error")).to_have_text(
        "Choose a pseudonym: it is how your signature appears."
    )
    pseudonym.fill("Ann\u202eLee")
    page.get_by_label("I am a current employee").check()
    page.get_by_role("button", name="Sign the letter").click()
    expect(page.locator("#sign-error")).to_contain_text("“Pseudonym” contains a control")
    shot(page, "4-human-error")

    receipt = sign(page)
    # The figures come again from the letter API (cached there a few seconds).
    expect(page.locator("#figure-count")).to_have_text("1 signature of 100", timeout=15_000)
    expect(page.locator("#figure-tokens")).to_have_text("1 signing token issued")

    page.get_by_role("button", name="Copy the receipt").click()
    expect(page.locator("#receipt-copy-status")).to_have_text(
        "Receipt copied. Paste it somewhere private."
    )
    assert page.evaluate("navigator.clipboard.readText()") == receipt
    shot(page, "4-receipt-copied")
    finish(page, refusals=1)


# --- 5: the receipt page -------------------------------------------------------------


def add_export(letter, signature, *, finished: dt.datetime, state_key: str) -> Export:
    export = Export.objects.create(
        letter=letter,
        state_key=state_key,
        status=ExportStatus.DONE,
        progress=100,
        finished_at=finished,
    )
    directory = Path(settings.DATA_DIR) / "exports" / str(export.pk)
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps([{"id": str(signature.pk)}]))
    return export


def test_the_receipt_page_speaks_human(screen, tmp_path):
    page = screen
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    letter = signing_letter()
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    page.goto(f"/letters/{letter.slug}/sign/")
    verify_with_invite_code(page, code)
    receipt = sign(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the receipt").click()
    receipt_file = Path(download.value.path())
    file_text = receipt_file.read_text(encoding="utf-8")
    assert receipt in file_text and "Stop keystroke logging" in file_text
    signature = Signature.objects.get()

    # The letter closes; a first export includes the signature, not delivered.
    letter.state = LetterState.CLOSED
    letter.save()
    draft = add_export(
        letter, signature, finished=dt.datetime(2024, 5, 6, 9, tzinfo=dt.UTC), state_key="1" * 64
    )
    page.get_by_role("link", name="Check or withdraw").click()
    box = page.get_by_label("Your receipt")
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-error")).to_have_text(
        "Paste your receipt first (or open the downloaded receipt file)."
    )
    # Paste the whole downloaded file: the receipt is found in it.
    page.evaluate("text => navigator.clipboard.writeText(text)", file_text)
    box.focus()
    page.keyboard.press("Control+V")
    expect(box).to_have_value(file_text)
    page.get_by_role("button", name="Check status").click()
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    expect(box).to_have_value(receipt)
    expect(page.locator("#receipt-exports li")).to_have_text(
        [
            "A petition prepared on May 6, 2024 includes your signature. "
            "It has not been delivered yet. Check this petition"
        ]
    )
    expect(page.get_by_role("button", name="Withdraw my signature")).to_be_visible()

    # A second export is delivered; the first one never was.
    delivered = add_export(
        letter, signature, finished=dt.datetime(2024, 5, 7, 9, tzinfo=dt.UTC), state_key="2" * 64
    )
    Delivery.objects.create(
        export=delivered,
        letter=letter,
        delivered_at=dt.datetime(2024, 5, 8, 10, tzinfo=dt.UTC),
        recipient="The CEO",
        method="in_person",
    )
    Export.objects.filter(pk=delivered.pk).update(delivered_at=dt.datetime.now(dt.UTC))
    letter.state = LetterState.DELIVERED
    letter.save()

    # On a phone the downloaded file is opened rather than pasted.
    page.reload()
    page.get_by_label("Or open the downloaded receipt file").set_input_files(receipt_file)
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    items = page.locator("#receipt-exports li")
    expect(items).to_have_text(
        ["The petition delivered on May 8, 2024 includes your signature. Check this petition"]
    )
    expect(items.get_by_role("link", name="Check this petition")).to_have_attribute(
        "href", f"/c/acme/verify/{delivered.pk}/"
    )
    expect(page.get_by_role("button", name="Withdraw my signature")).to_be_hidden()
    expect(page.locator("#withdraw-note")).to_have_text(
        "The petition was delivered on May 8, 2024: withdrawal is no longer possible."
    )
    text = page.locator("main").inner_text()
    assert str(draft.pk) not in page.content() and str(delivered.pk) not in text
    assert not ISO_TIME.search(text)
    shot(page, "5-receipt-delivered")

    # A wrong receipt: the reason in words, no field name.
    box.fill("x" * 43)
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-error")).to_have_text(
        "No signature has this receipt. Check that you pasted all of it."
    )
    box.fill("not a receipt")
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-error")).to_have_text(
        "Paste the receipt you saved or downloaded when you signed."
    )
    finish(page, refusals=2)


def test_the_receipt_page_understands_a_pending_signature(screen):
    """The receipt API is gaining status "pending" (a signature accepted,
    counted when its batch is sealed) and a "log" object: the page shows
    them in words, and any other status it does not know without breaking."""
    page = screen

    def answer(status: str):
        body = {
            "status": status,
            "letter": {"slug": "stop-logging", "title": "Stop keystroke logging", "state": "open"},
            "pseudonym": "Quiet Heron 7",
            "can_withdraw": True,
            "exports": [],
            "log": {"batch": None},
        }
        return lambda route: route.fulfill(
            status=200, content_type="application/json", body=json.dumps(body)
        )

    page.route("**/api/v1/receipts/status", answer("pending"))
    page.goto("/receipts/")
    page.get_by_label("Your receipt").fill("r" * 43)
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-status")).to_have_text(
        "Your signature is accepted; it will be counted in the next batch."
    )
    expect(page.locator("#receipt-pseudonym")).to_have_text("Signed as: Quiet Heron 7")
    expect(page.get_by_role("button", name="Withdraw my signature")).to_be_visible()
    shot(page, "5-receipt-pending")
    page.unroute("**/api/v1/receipts/status")
    page.route("**/api/v1/receipts/status", answer("audited"))
    page.get_by_role("button", name="Check status").click()
    expect(page.locator("#receipt-status")).to_have_text(
        "Your signature is recorded (status: audited)."
    )
    finish(page)
