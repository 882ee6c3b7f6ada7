"""A signer's receipt lists the letter's updates (receipt status API), as text."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from letters import services as letter_services
from letters.models import LetterState, Update
from signatures.services.receipts import RECEIPT_UPDATES
from tests.petitions.factories import make_letter, make_signatures, receipt_for
from tests.signatures.helpers import post_json

pytestmark = pytest.mark.django_db


def status(receipt):
    code, body = post_json(Client(), "/api/v1/receipts/status", {"receipt": receipt})
    assert code == 200, body
    return body


def test_receipt_lists_updates_newest_first_as_text(roles):
    letter = make_letter(roles.campaign, slug="signed", state=LetterState.OPEN)
    make_signatures(letter, 2)
    make_signatures(letter, 1, start_index=2, withdrawn=True)
    assert status(receipt_for(0))["updates"] == []
    old = letter_services.update_post(
        actor=roles.organizer, letter=letter, title="Closing soon", body="Sign by *Friday*."
    )
    Update.objects.filter(pk=old.pk).update(published_at=timezone.now() - dt.timedelta(days=1))
    new = letter_services.update_post(
        actor=roles.delegate,
        letter=letter,
        title="Delivered & <answered>",
        body="**They** said [no](https://example.org).\n\n<b>raw</b> &amp;",
    )
    new = letter_services.update_edit(
        actor=roles.delegate, update=new, title=new.title, body=new.body + " Edited."
    )
    for receipt in (receipt_for(0), receipt_for(2)):  # counted and withdrawn alike
        body = status(receipt)
        assert [u["id"] for u in body["updates"]] == [str(new.pk), str(old.pk)]
        first = body["updates"][0]
        assert first == {
            "id": str(new.pk),
            "title": "Delivered & <answered>",
            "published": new.published_at.isoformat(),
            "edited": new.edited_at.isoformat(),
            "text": "They said no.\n<b>raw</b> & Edited.",
            "url": f"/letters/signed/#update-{new.pk}",
        }
        assert body["updates"][1]["edited"] is None
        assert body["updates"][1]["text"] == "Sign by Friday."
        # Nothing names who wrote it (the delegate "Del", del@personal.test).
        assert "del@personal.test" not in str(body) and "'Del'" not in str(body)


def test_receipt_lists_at_most_the_newest_updates(roles):
    letter = make_letter(roles.campaign, slug="busy-news", state=LetterState.OPEN)
    make_signatures(letter, 1)
    now = timezone.now()
    Update.objects.bulk_create(
        Update(letter=letter, title=f"News {i}", published_at=now - dt.timedelta(hours=i))
        for i in range(RECEIPT_UPDATES + 5)
    )
    titles = [u["title"] for u in status(receipt_for(0))["updates"]]
    assert titles == [f"News {i}" for i in range(RECEIPT_UPDATES)]


def test_other_letters_updates_are_not_listed(roles):
    signed = make_letter(roles.campaign, slug="signed-one", state=LetterState.OPEN)
    other = make_letter(roles.campaign, slug="other-one", state=LetterState.OPEN)
    make_signatures(signed, 1)
    letter_services.update_post(actor=roles.organizer, letter=other, title="Not yours")
    assert status(receipt_for(0))["updates"] == []
