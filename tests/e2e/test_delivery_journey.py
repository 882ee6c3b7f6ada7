"""From an export of an open letter to the delivered petition, without a
dead end, and what leadership and signers then check.

The delegate exports the open letter on a phone and is told that an
organizer closes it; the organizer closes it from the export page, exports
again, and records the delivery. A visitor's verifier then tells the
delivered petition from the earlier export; the petition's appendix names
the files as they were downloaded and sends a signer to the export's own
page, where their receipt is found.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from letters.models import LetterState
from petitions import services
from petitions.models import Export
from tests.e2e.journeys import (
    DESKTOP,
    PHONE,
    no_horizontal_scroll,
    pdf_text,
    screenshot,
    signed_in_page,
)
from tests.petitions.factories import make_issuances, make_letter, make_signatures, receipt_for

pytestmark = pytest.mark.django_db(transaction=True)


PDF_LINK = re.compile(r"-petition\.pdf$")


def download(page, link_name) -> tuple[str, bytes]:
    """Click a download link: (the name the browser saves it under, its bytes)."""
    with page.expect_download() as started:
        page.get_by_role("link", name=link_name).click()
    return started.value.suggested_filename, Path(started.value.path()).read_bytes()


def test_delegate_and_organizer_reach_delivery_and_the_verifier_tells_exports_apart(
    new_page, live_server, roles, settings, tmp_path
):
    settings.SITE_URL = live_server.url  # what `make run` serves (test_make_run_links)
    services.campaign_key_generate(actor=roles.organizer, campaign=roles.campaign)
    letter = make_letter(roles.campaign, slug="keystrokes", state=LetterState.OPEN)
    make_signatures(letter, 8)
    make_issuances(letter, 9)
    slug = roles.campaign.slug

    # The delegate, on a phone, exports the open letter.
    delegate = signed_in_page(new_page, live_server, roles.delegate, viewport=PHONE)
    delegate.goto(f"/c/{slug}/exports/")
    delegate.get_by_role("button", name="Export as signed PDF").click()
    delegate.wait_for_url(f"**/c/{slug}/exports/*/")
    first_url = delegate.url
    expect(delegate.locator("#letter-state")).to_have_text("Open for signatures")
    expect(delegate.locator("#next-step-panel")).to_contain_text(
        "Only an organizer can close the letter"
    )
    assert delegate.get_by_role("button", name="Close the letter now").count() == 0
    assert delegate.get_by_role("button", name="Record the delivery").count() == 0
    assert no_horizontal_scroll(delegate)
    screenshot(delegate, "delivery-1-delegate-open-letter-phone")
    first_name, first_pdf = download(delegate, PDF_LINK)
    assert re.fullmatch(r"keystrokes-[0-9a-f]{8}-petition\.pdf", first_name)

    # The organizer closes the letter from that very page.
    organizer = signed_in_page(new_page, live_server, roles.organizer, viewport=DESKTOP)
    organizer.goto(first_url)
    screenshot(organizer, "delivery-2-organizer-open-letter-desktop")
    organizer.get_by_role("button", name="Close the letter now").click()
    organizer.wait_for_url(first_url)
    expect(organizer.locator(".messages")).to_contain_text("The letter is closed.")
    expect(organizer.locator("#letter-state")).to_have_text("Closed")
    expect(organizer.locator("#next-step-panel")).to_contain_text("changed after this export")
    screenshot(organizer, "delivery-3-stale-export-desktop")
    organizer.get_by_role("button", name="Export again").click()
    organizer.wait_for_url(f"**/c/{slug}/exports/*/")
    assert organizer.url != first_url
    expect(organizer.locator("#next-step-panel")).to_contain_text("Hand the PDF over")

    # The delegate reloads the new export on the phone and records the delivery.
    delegate.goto(organizer.url)
    final_name, final_pdf = download(delegate, PDF_LINK)
    assert final_name != first_name
    when = (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    delegate.fill("#id_delivered_at", when)
    delegate.fill("#id_recipient", "The CEO")
    delegate.select_option("#id_method", "in_person")
    delegate.get_by_role("button", name="Record the delivery").click()
    expect(delegate.locator(".messages")).to_contain_text("the letter is delivered")
    expect(delegate.locator("#next-step-panel")).to_contain_text(
        "This export is the delivered petition."
    )
    assert no_horizontal_scroll(delegate)
    screenshot(delegate, "delivery-4-delivered-phone")
    final = Export.objects.get(delivery__isnull=False)
    assert final_name == services.export_file_name(final, "petition.pdf")

    # The petition's appendix names the files as downloaded, and the export's page.
    appendix = pdf_text(final_pdf).split("Appendix: how to check this document")[1]
    flat = "".join(appendix.split())
    prefix = final_name.removesuffix("petition.pdf")
    assert f"sha256sum{final_name}" in flat
    assert f"gpg--verify{prefix}petition.pdf.asc{final_name}" in flat
    assert f"sha256sum{prefix}manifest.json" in flat
    export_page = f"{live_server.url}/c/{slug}/verify/{final.pk}/"
    assert export_page in flat
    assert "receipt on this export's page" in " ".join(appendix.split())

    # A visitor checks both PDFs on the public verifier.
    visitor = new_page()
    visitor.set_viewport_size(PHONE)
    for pdf, expected, absent in (
        (first_pdf, "This is an earlier export, not the delivered petition.", "delivered on"),
        (final_pdf, "This is the delivered petition", "earlier export"),
    ):
        path = tmp_path / "petition-upload.pdf"
        path.write_bytes(pdf)
        visitor.goto(f"/c/{slug}/verify/")
        visitor.set_input_files("#id_pdf", str(path))
        visitor.get_by_role("button", name="Verify").click()
        result = visitor.locator("[data-testid=standing]")
        expect(result).to_contain_text(expected)
        assert absent not in result.inner_text()
        assert no_horizontal_scroll(visitor)
        screenshot(visitor, f"delivery-5-verifier-{'earlier' if pdf is first_pdf else 'final'}")
    # From the earlier export's answer to the delivered one.
    visitor.goto(f"/c/{slug}/verify/")
    path.write_bytes(first_pdf)
    visitor.set_input_files("#id_pdf", str(path))
    visitor.get_by_role("button", name="Verify").click()
    visitor.get_by_role("link", name="The delivered petition").click()
    expect(visitor.locator("[data-testid=standing]")).to_contain_text(
        "This is the delivered petition"
    )
    assert visitor.url == export_page

    # A signer goes to the address the appendix prints and checks their receipt.
    signer = new_page()
    signer.set_viewport_size(PHONE)
    signer.goto(export_page)
    expect(signer.get_by_role("link", name=f"{prefix}manifest.json", exact=True)).to_be_visible()
    signer.fill("#id_receipt", receipt_for(3))
    signer.get_by_role("button", name="Check my receipt").click()
    expect(
        signer.get_by_text("Yes: the signature with this receipt is in this export.")
    ).to_be_visible()
    screenshot(signer, "delivery-6-receipt-phone")

    for page in (delegate, organizer, visitor, signer):
        assert page.foreign_requests == []
        assert page.console_errors == []
