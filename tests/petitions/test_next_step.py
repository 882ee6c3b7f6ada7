"""The export page says where the letter stands and what to do next, so that
recording a delivery never sends the delegate in a circle: close the letter
(organizers, from this page), export again where an export is stale, then
record the delivery."""

from __future__ import annotations

import pytest
from django.urls import reverse

from letters.models import LetterState
from petitions import services
from petitions.models import Export, ExportStatus
from signatures.models import PendingWithdrawal, Signature
from signatures.services.batches import batch_seal
from tests.petitions.conftest import run_export
from tests.petitions.factories import make_letter, make_signatures

ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]
CLOSE_BUTTON = "Close the letter now"
EXPORT_AGAIN = "Export again"
DELIVERY_FORM = 'action="{}"'


@pytest.fixture
def open_export(roles, campaign_key, django_capture_on_commit_callbacks):
    """A finished export of a letter that is still open."""
    letter = make_letter(roles.campaign, slug="still-open", state=LetterState.OPEN)
    make_signatures(letter, 6)
    export, _created = run_export(
        django_capture_on_commit_callbacks, actor=roles.delegate, letter=letter
    )
    assert export.status == ExportStatus.DONE, export.error
    return export


def detail_url(export) -> str:
    return reverse("petitions:detail", args=[export.letter.campaign.slug, export.pk])


def close_url(export) -> str:
    letter = export.letter
    return reverse("letters:manage_transition", args=[letter.campaign.slug, letter.pk, "close"])


def deliver_url(export) -> str:
    return reverse("petitions:deliver", args=[export.letter.campaign.slug, export.pk])


def page(client, export) -> str:
    response = client.get(detail_url(export))
    assert response.status_code == 200
    return response.content.decode()


def test_an_open_letter_export_asks_the_organizer_to_close_from_there(
    roles, client_for, open_export
):
    text = page(client_for(roles.organizer), open_export)
    assert 'id="letter-state">Open for signatures<' in text
    assert CLOSE_BUTTON in text
    assert f'action="{close_url(open_export)}"' in text
    assert f'name="next" value="{detail_url(open_export)}"' in text
    assert DELIVERY_FORM.format(deliver_url(open_export)) not in text


def test_a_delegate_is_told_to_ask_an_organizer(roles, client_for, open_export):
    text = page(client_for(roles.delegate), open_export)
    assert 'id="letter-state">Open for signatures<' in text
    assert "Only an organizer can close the letter" in text
    assert CLOSE_BUTTON not in text
    assert DELIVERY_FORM.format(deliver_url(open_export)) not in text


@pytest.mark.parametrize("role", ROLES)
def test_closing_from_the_export_page_for_every_role(role, roles, client_for, open_export):
    response = client_for(roles.users()[role]).post(
        close_url(open_export), {"next": detail_url(open_export)}
    )
    letter = open_export.letter
    letter.refresh_from_db()
    if role == "organizer":
        # Back on the export page, which now asks for a new export.
        assert response.status_code == 302
        assert response["Location"] == detail_url(open_export)
        assert letter.state == LetterState.CLOSED
    else:
        if role == "anonymous":
            assert response.status_code == 302
            assert "/accounts/login/" in response["Location"]
        else:
            assert response.status_code == 403
        assert letter.state == LetterState.OPEN


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", "x/y"]
)
def test_closing_never_returns_to_another_site(roles, client_for, open_export, target):
    response = client_for(roles.organizer).post(close_url(open_export), {"next": target})
    letter = open_export.letter
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "letters:manage_detail", args=[letter.campaign.slug, letter.pk]
    )


def test_after_closing_the_stale_export_offers_export_again_and_then_delivery(
    roles, client_for, open_export, django_capture_on_commit_callbacks
):
    organizer = client_for(roles.organizer)
    organizer.post(close_url(open_export), {"next": detail_url(open_export)})
    delegate = client_for(roles.delegate)
    text = page(delegate, open_export)
    assert 'id="letter-state">Closed<' in text
    assert "changed after this export" in text
    assert EXPORT_AGAIN in text
    assert f'action="{reverse("petitions:list", args=[roles.campaign.slug])}"' in text
    assert DELIVERY_FORM.format(deliver_url(open_export)) not in text

    # The delivery of the stale export is refused, and the refusal offers the way on.
    response = delegate.post(
        deliver_url(open_export),
        {"delivered_at": "2020-01-02T10:00", "recipient": "The CEO", "method": "in_person"},
    )
    assert response.status_code == 400
    assert "export it again" in response.content.decode()
    assert EXPORT_AGAIN in response.content.decode()

    # "Export again" posts what the button's form holds: a new, current export.
    with django_capture_on_commit_callbacks(execute=True):
        response = delegate.post(
            reverse("petitions:list", args=[roles.campaign.slug]),
            {"letter": open_export.letter.slug, "paper": open_export.paper},
        )
    assert response.status_code == 302
    fresh = Export.objects.exclude(pk=open_export.pk).get(letter=open_export.letter)
    assert response["Location"] == detail_url(fresh)
    text = page(delegate, fresh)
    assert EXPORT_AGAIN not in text and CLOSE_BUTTON not in text
    assert "Hand the PDF over, then record the delivery below." in text
    assert DELIVERY_FORM.format(deliver_url(fresh)) in text
    response = delegate.post(
        deliver_url(fresh),
        {"delivered_at": "2020-01-02T10:00", "recipient": "The CEO", "method": "in_person"},
    )
    assert response.status_code == 302
    assert "This export is the delivered petition." in page(delegate, fresh)
    # The earlier export's page says it was not the one delivered.
    text = page(delegate, open_export)
    assert "this one is an earlier export, not the delivered petition" in text
    assert detail_url(fresh) in text


def test_a_withdrawal_after_the_export_makes_it_stale(roles, client_for, exported, letter):
    delegate = client_for(roles.delegate)
    assert "Hand the PDF over" in page(delegate, exported)
    # A withdrawal as a receipt makes it: it waits for a batch, sealed here.
    withdrawn = Signature.objects.get(letter=letter, pseudonym="pseudo00003")
    PendingWithdrawal.objects.create(letter=letter, token_hash=withdrawn.token_hash)
    batch_seal(letter=letter, force=True)
    text = page(delegate, exported)
    assert EXPORT_AGAIN in text
    assert DELIVERY_FORM.format(deliver_url(exported)) not in text
    assert services.export_is_stale(exported)


def test_a_failed_export_offers_export_again(roles, client_for, exported):
    Export.objects.filter(pk=exported.pk).update(status=ExportStatus.FAILED, error="Boom.")
    exported.refresh_from_db()
    text = page(client_for(roles.delegate), exported)
    assert "This export did not finish." in text
    assert EXPORT_AGAIN in text
