"""Recording a delivery offers a ready update: prefilled on the export's page,
posted through the letters' update form, gone once an update is posted."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from letters.models import LetterState, Update
from organizing.models import AuditEntry
from tests.petitions.factories import make_done_export, make_letter, make_signatures

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_export(roles):
    letter = make_letter(roles.campaign, slug="to-deliver", state=LetterState.CLOSED)
    make_signatures(letter, 7)
    return make_done_export(letter, created_by=roles.delegate)


def _deliver(client, export):
    return client.post(
        reverse("petitions:deliver", args=["acme", export.pk]),
        {
            "delivered_at": "2024-05-06T10:30",
            "recipient": "The board of Example Corp",
            "method": "email",
            "notes": "Internal: Jo was nervous.",
        },
    )


@pytest.mark.parametrize("who", ["delegate", "organizer"])
def test_delivery_offers_a_ready_update_that_posts(who, roles, closed_export, client_for):
    client = client_for(getattr(roles, who))
    detail = reverse("petitions:detail", args=["acme", closed_export.pk])
    before = client.get(detail).content.decode()
    assert 'id="ready-update"' not in before
    response = _deliver(client, closed_export)
    assert response.status_code == 302
    assert response["Location"] == f"{detail}#ready-update"

    html = client.get(detail).content.decode()
    assert 'id="ready-update"' in html
    assert 'value="Delivered to The board of Example Corp"' in html
    assert "On 6 May 2024 we delivered this letter, with the 7 signatures it held, to" in html
    assert "(By email)" in html
    ready = html[html.index('id="ready-update"') :]
    ready = ready[: ready.index("</section>")]
    assert "Jo was nervous" not in ready  # the notes are the delegates' own
    assert f'action="{reverse("letters:updates", args=["acme", closed_export.letter_id])}"' in ready

    # Posting it (as the form would, after a change) makes a public update.
    url = reverse("letters:updates", args=["acme", closed_export.letter_id])
    response = client.post(
        url, {"title": "Delivered to the board", "body": "On 6 May 2024 we delivered it."}
    )
    assert response.status_code == 302
    update = Update.objects.get()
    assert update.author == getattr(roles, who)
    assert AuditEntry.objects.filter(action="update.post", object_id=str(update.pk)).exists()
    assert 'id="ready-update"' not in client.get(detail).content.decode()
    public = client_for(None).get(reverse("letters:public", args=["to-deliver"]))
    assert "Delivered to the board" in public.content.decode()


def test_an_update_from_before_the_delivery_does_not_count(roles, closed_export, client_for):
    client = client_for(roles.delegate)
    Update.objects.create(
        letter=closed_export.letter,
        title="Closed",
        published_at=closed_export.finished_at - dt.timedelta(days=1),
    )
    _deliver(client, closed_export)
    detail = reverse("petitions:detail", args=["acme", closed_export.pk])
    assert 'id="ready-update"' in client.get(detail).content.decode()


@pytest.mark.parametrize("role", ["anonymous", "member", "other_organizer"])
def test_others_never_see_the_ready_update(role, roles, closed_export, client_for):
    _deliver(client_for(roles.delegate), closed_export)
    response = client_for(roles.users()[role]).get(
        reverse("petitions:detail", args=["acme", closed_export.pk])
    )
    assert response.status_code in (302, 403)
    assert b"ready-update" not in response.content
