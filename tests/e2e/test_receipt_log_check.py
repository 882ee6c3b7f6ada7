"""The receipt page checks the letter's log in Chromium (static/js/log-check.js):
the signed checkpoint, the inclusion proof, and that the log only grew since
the last check; and it says so loudly when a proof, a checkpoint or the
log's history was tampered with (Playwright serves the tampered answers).
The signing and receipt pages say how long a signature waits for its batch.
On a phone and on a desktop screen.

E2E_SCREENSHOTS=<folder> saves a screenshot of each main page state there.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.utils import timezone
from playwright.sync_api import expect

from signatures import tlog
from signatures.models import Attestation, LetterLog
from signatures.services.batches import batch_seal
from signatures.services.eligibility import invite_codes_create
from tests.e2e.test_signing_dead_ends import (
    VIEWPORTS,
    finish,
    shot,
    sign,
    signing_letter,
    verify_with_invite_code,
)
from tests.signatures.helpers import sign_with_invites

pytestmark = pytest.mark.django_db(transaction=True)

FAILED = "Warning: the check of the letter’s log failed."


@pytest.fixture(params=list(VIEWPORTS))
def screen(request, new_page):
    page = new_page(**VIEWPORTS[request.param])
    page.screen_name = request.param
    return page


def statements(letter) -> list[int]:
    return list(Attestation.objects.filter(campaign=letter.campaign).values_list("id", flat=True))


def status_posts(page) -> list[dict]:
    """The bodies of the page's POSTs to the receipt status, as they go."""
    seen: list[dict] = []

    def record(request):
        if request.method == "POST" and "/receipts/status" in request.url:
            seen.append(json.loads(request.post_data))

    page.on("request", record)
    return seen


def check(page, receipt: str) -> None:
    page.get_by_label("Your receipt").fill(receipt)
    page.get_by_role("button", name="Check status").click()


def log_box(page):
    return page.locator("#receipt-log")


def expect_included(page, size: int) -> None:
    expect(page.locator("#receipt-log-title")).to_have_text(f"Included in the log at size {size}.")
    expect(log_box(page)).to_have_class("log-check log-check-ok")


def expect_failed(page, reason: str) -> None:
    expect(page.locator("#receipt-log-title")).to_have_text(FAILED)
    expect(log_box(page)).to_have_class("log-check log-check-failed")
    expect(log_box(page)).to_have_attribute("role", "alert")
    expect(page.locator("#receipt-log-reason")).to_contain_text(reason)
    expect(page.locator("#receipt-log-note")).to_have_text(
        "Keep your receipt and tell the organizers. Until this is explained, "
        "do not trust the count this site shows."
    )


def kept(page, slug: str):
    return page.evaluate(f"JSON.parse(localStorage.getItem('org-log:{slug}'))")


def flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def tamper_status(page, change) -> None:
    """Serve the real receipt status with `change(body)` applied."""

    def handle(route):
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, json=body)

    page.route("**/api/v1/receipts/status", handle)


# --- the check, and the log growing between two checks -----------------------------------


def test_the_receipt_page_checks_the_log_and_that_it_only_grew(screen):
    page = screen
    letter = signing_letter()
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    page.goto(f"/letters/{letter.slug}/sign/")
    # The count is the log's, with its checkpoint's size beside it.
    expect(page.locator("#figure-count")).to_have_text("0 signatures of 100")
    expect(page.locator("#figure-log")).to_have_text("(counted at log size 1)")
    verify_with_invite_code(page, code)
    receipt = sign(page)
    # Sealed at once (the embedded default): nothing said of batches.
    expect(page.locator("#done-batch")).to_be_hidden()
    expect(page.locator("#figure-count")).to_have_text("1 signature of 100", timeout=15_000)
    expect(page.locator("#figure-log")).to_have_text("(counted at log size 2)")

    posts = status_posts(page)
    page.get_by_role("link", name="Check or withdraw").click()
    check(page, receipt)
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    expect_included(page, 2)
    expect(page.locator("#receipt-log-reason")).to_have_text(
        "This browser checked the signature of the log’s checkpoint and that entry 1, "
        "the one the server names for your receipt, is in it."
    )
    expect(page.locator("#receipt-log-note")).to_have_text(
        "This browser keeps this checkpoint, to check next time that the log only grew."
    )
    first = kept(page, letter.slug)
    assert first["size"] == 2 and first["verifierKey"] == LetterLog.objects.get().verifier_key
    assert posts == [{"receipt": receipt}]
    shot(page, "receipt-log-included")

    # Three more people sign; the next check proves the log only grew.
    sign_with_invites(letter, statements(letter), 3)
    page.reload()
    check(page, receipt)
    expect_included(page, 5)
    expect(page.locator("#receipt-log-note")).to_have_text(
        "The log only grew since you last checked (size 2 → 5)."
    )
    assert posts[1:] == [{"receipt": receipt}, {"receipt": receipt, "since": 2}]
    assert kept(page, letter.slug)["size"] == 5
    shot(page, "receipt-log-grew")

    check(page, receipt)
    expect(page.locator("#receipt-log-note")).to_have_text(
        "The log is the same as when you last checked (size 5)."
    )
    # The letter's page shows the same count, read from the same checkpoint.
    page.goto(f"/letters/{letter.slug}/")
    expect(page.locator(".letter-count")).to_have_text("4 signatures of a goal of 100")
    expect(page.locator("#letter-log")).to_have_text(
        "Counted from the letter’s signed public log, at log size 5."
    )
    shot(page, "letter-count-log-size")
    finish(page)


def test_a_browser_without_ed25519_says_it_cannot_check(new_page):
    page = new_page(**VIEWPORTS["phone"])
    # What a browser without Ed25519 in WebCrypto answers.
    page.add_init_script(
        """(() => {
            const subtle = crypto.subtle;
            const importKey = subtle.importKey.bind(subtle);
            subtle.importKey = (format, data, algorithm, ...rest) =>
                algorithm && algorithm.name === "Ed25519"
                    ? Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError"))
                    : importKey(format, data, algorithm, ...rest);
        })();"""
    )
    letter = signing_letter()
    ((_token, body),) = sign_with_invites(letter, statements(letter), 1)
    page.goto("/receipts/")
    check(page, body["receipt"])
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    expect(page.locator("#receipt-log-title")).to_have_text(
        "This browser cannot check the log’s signature (it lacks Ed25519 in WebCrypto, "
        "or the page is not on https://). A recent Chrome, Edge, Firefox or Safari can."
    )
    expect(log_box(page)).to_have_class("log-check")  # not a warning: nothing was shown wrong
    assert kept(page, letter.slug) is None
    finish(page)


# --- attacks ---------------------------------------------------------------------------


def test_a_tampered_proof_or_checkpoint_makes_the_check_fail_loudly(screen):
    page = screen
    letter = signing_letter()
    ((_token, body),) = sign_with_invites(letter, statements(letter), 1)
    receipt = body["receipt"]
    page.goto("/receipts/")

    # A proof with one bit changed.
    tamper_status(page, lambda body: body["log"].update(proof=[flip_b64(body["log"]["proof"][0])]))
    check(page, receipt)
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    expect_failed(page, "The proof does not lead to the root of the signed checkpoint")
    assert kept(page, letter.slug) is None  # a failed check keeps nothing
    shot(page, "receipt-log-tampered-proof")
    page.unroute("**/api/v1/receipts/status")

    # A checkpoint whose root was changed under its signature.
    def other_root(route):
        response = route.fetch()
        origin, size, root, *rest = response.text().split("\n")
        fake = base64.b64encode(tlog.leaf_hash(b"forged")).decode()
        route.fulfill(response=response, body="\n".join([origin, size, fake, *rest]))

    page.route("**/log/*/checkpoint", other_root)
    check(page, receipt)
    expect_failed(
        page, "The log’s checkpoint does not carry a valid signature of the letter’s log key."
    )
    shot(page, "receipt-log-tampered-checkpoint")
    page.unroute("**/log/*/checkpoint")

    # The genuine log checks, and is kept.
    check(page, receipt)
    expect_included(page, 2)

    # Then a server shows another log under another key, with a signed
    # checkpoint that holds the same proof: the key is not the one kept.
    log = LetterLog.objects.get()
    forger = ed25519.Ed25519PrivateKey.generate()
    forged_key = tlog.verifier_key(log.origin, tlog.public_key_bytes(forger))

    def forged_letter(route):
        response = route.fetch()
        body = response.json()
        body["log"]["verifier_key"] = forged_key
        route.fulfill(response=response, json=body)

    def forged_checkpoint(route):
        response = route.fetch()
        text = response.text().partition("\n\n")[0] + "\n"
        route.fulfill(
            response=response, body=tlog.sign_note(text, name=log.origin, private_key=forger)
        )

    page.route(f"**/api/v1/letters/{letter.slug}", forged_letter)
    page.route("**/log/*/checkpoint", forged_checkpoint)
    check(page, receipt)
    expect_failed(page, "The letter’s log key is not the one this browser saw before")
    assert kept(page, letter.slug)["verifierKey"] == log.verifier_key
    finish(page)


def test_a_rewritten_log_makes_the_check_fail_loudly(screen):
    page = screen
    letter = signing_letter()
    ((_token, body),) = sign_with_invites(letter, statements(letter), 1)
    receipt = body["receipt"]
    page.goto("/receipts/")
    check(page, receipt)
    expect_included(page, 2)
    sign_with_invites(letter, statements(letter), 2)

    # The log grew, but the server's proof does not show the kept checkpoint
    # inside the new tree (what any rewrite of the published entries gives).
    def rewritten(body):
        if "consistency" in body["log"]:
            body["log"]["consistency"] = [flip_b64(h) for h in body["log"]["consistency"]]

    tamper_status(page, rewritten)
    check(page, receipt)
    expect_failed(
        page,
        "The log was rewritten: the checkpoint this browser saw before (size 2) "
        "is not part of the new one (size 4).",
    )
    assert kept(page, letter.slug)["size"] == 2  # the evidence stays
    shot(page, "receipt-log-rewritten")
    page.unroute("**/api/v1/receipts/status")

    # A browser that kept a root the log never had (it was shown another
    # history before): the honest proof fails against it just the same.
    page.evaluate(
        """([slug, root]) => {
            const kept = JSON.parse(localStorage.getItem("org-log:" + slug));
            kept.root = root;
            localStorage.setItem("org-log:" + slug, JSON.stringify(kept));
        }""",
        [letter.slug, base64.b64encode(tlog.leaf_hash(b"another history")).decode()],
    )
    check(page, receipt)
    expect_failed(page, "The log was rewritten")
    finish(page)


def test_an_unlisted_letters_log_is_checked_with_the_key_of_its_link(new_page):
    page = new_page(**VIEWPORTS["desktop"])
    letter = signing_letter()
    ((_token, body),) = sign_with_invites(letter, statements(letter), 1)
    letter.visibility = "unlisted"
    letter.save()
    page.goto("/receipts/")
    check(page, body["receipt"])
    expect(page.get_by_text("Your signature is counted.")).to_be_visible()
    expect(page.locator("#receipt-log-title")).to_have_text(
        "This letter’s log is only reachable through the letter’s own link: open this "
        "page from the signing page’s “Check or withdraw” link to check it."
    )
    # The signing page's link carries the key on to the receipt page.
    page.goto(f"/letters/{letter.slug}/sign/?key={letter.unlisted_token}")
    link = page.locator("#step-done a", has_text="Check or withdraw")
    assert link.get_attribute("href") == f"/receipts/?key={letter.unlisted_token}"
    page.goto(link.get_attribute("href"))
    check(page, body["receipt"])
    expect_included(page, 2)
    finish(page, refusals=1)  # the letter API's 404 without the key


# --- batches: how long a signature waits ---------------------------------------------------


def test_the_signing_and_receipt_pages_say_when_the_next_batch_comes(screen, settings):
    page = screen
    settings.SIGNATURE_BATCHES = "scheduled"
    letter = signing_letter()
    letter.campaign.batch_min = 3
    letter.campaign.batch_interval = 15
    letter.campaign.save()
    sign_with_invites(letter, statements(letter), 3)
    # The last batch was sealed 5 minutes 10 seconds ago: the next one in
    # about 10 minutes (rounded up, so the test has 50 seconds to run).
    batch_seal(letter=letter, now=timezone.now() - timedelta(minutes=5, seconds=10))
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)

    page.goto(f"/letters/{letter.slug}/sign/")
    expect(page.locator("#figure-count")).to_have_text("3 signatures of 100")
    expect(page.locator("#figure-log")).to_have_text("(counted at log size 4)")
    verify_with_invite_code(page, code)
    expect(page.locator("#batch-note")).to_contain_text(
        "Your signature will be counted in the next batch, within about 10 minutes."
    )
    shot(page, "batch-sign-form")
    receipt = sign(page)
    expect(page.locator("#done-batch")).to_have_text(
        "Your signature will be counted in the next batch, within about 10 minutes."
    )
    # Waiting for its batch, it is not counted yet.
    expect(page.locator("#figure-count")).to_have_text("3 signatures of 100")
    shot(page, "batch-signed-pending")

    page.get_by_role("link", name="Check or withdraw").click()
    check(page, receipt)
    expect(page.locator("#receipt-status")).to_have_text(
        "Your signature is accepted; it will be counted in the next batch, within about 10 minutes."
    )
    expect(log_box(page)).to_be_hidden()  # no place in the log yet
    shot(page, "batch-receipt-pending")

    # Withdrawn while it waits: the page says when that takes effect.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Withdraw my signature").click()
    expect(page.locator("#withdraw-note")).to_have_text(
        "Your withdrawal is recorded: your signature stops being counted with the next batch."
    )
    finish(page)
