"""The export page shows the job's progress and updates it without a reload."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from petitions.models import Export, ExportStatus
from tests.petitions.factories import make_letter
from tests.support.sessions import login_with_mfa

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_updates_without_reload(new_page, live_server, roles):
    letter = make_letter(roles.campaign)
    export = Export.objects.create(
        letter=letter, state_key="0" * 64, status=ExportStatus.RUNNING, progress=12
    )
    client = Client()
    login_with_mfa(client, roles.delegate)
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
    page.goto(f"/c/{roles.campaign.slug}/exports/{export.pk}/")
    bar = page.locator("#export-progress")
    expect(bar).to_have_attribute("value", "12")
    page.evaluate("window.__notReloaded = true")

    Export.objects.filter(pk=export.pk).update(progress=57)
    expect(page.locator("#export-percent")).to_have_text("57 %")
    assert page.evaluate("bar => bar.value", bar.element_handle()) == 57
    assert page.evaluate("window.__notReloaded") is True

    # The render falls silent (its worker died): the page says what happens next.
    stall = page.locator("#export-stall")
    expect(stall).to_be_hidden()
    silent_since = timezone.now() - dt.timedelta(minutes=3)
    Export.objects.filter(pk=export.pk).update(progress_at=silent_since, started_at=silent_since)
    expect(stall).to_be_visible()
    expect(stall).to_contain_text("stopped")
    Export.objects.filter(pk=export.pk).update(progress_at=timezone.now())  # resumed
    expect(stall).to_be_hidden()
    assert page.evaluate("window.__notReloaded") is True

    # When it finishes the page reloads once to show the result.
    Export.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error="Test stop")
    expect(page.get_by_text("Test stop")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is None
    assert page.foreign_requests == []
    assert page.console_errors == []
