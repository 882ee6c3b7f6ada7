"""seed_demo creates an open public letter and a draft, idempotently, via the services."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from letters.demo import DEMO_DRAFT_SLUG, DEMO_OPEN_SLUG
from letters.models import Approval, Letter, LetterState
from letters.services import compute_text_hash
from organizing.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_seed_demo_letters(client):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent

    letter = Letter.objects.get(slug=DEMO_OPEN_SLUG)
    assert letter.campaign.slug == "demo"
    assert letter.state == LetterState.OPEN and letter.visibility == "public"
    assert letter.goal == 500 and len(letter.demands) == 3
    assert "keystroke" in letter.body.lower()
    assert letter.text_hash == compute_text_hash(
        title=letter.title, body=letter.body, demands=letter.demands
    )
    approvers = set(Approval.objects.filter(letter=letter).values_list("approver", flat=True))
    assert len(approvers) >= letter.campaign.approval_quorum
    assert AuditEntry.objects.filter(action="letter.open", object_id=str(letter.pk)).count() == 1
    draft = Letter.objects.get(slug=DEMO_DRAFT_SLUG)
    assert draft.state == LetterState.DRAFT
    assert Letter.objects.count() == 2
    # One update on the open letter, posted once through the service.
    assert list(letter.updates.values_list("title", flat=True)) == ["The letter is open"]
    assert AuditEntry.objects.filter(action="update.post").count() == 1

    response = client.get(reverse("letters:public", args=[DEMO_OPEN_SLUG]))
    assert response.status_code == 200
    assert letter.text_hash in response.content.decode()
    assert "The letter is open" in response.content.decode()
