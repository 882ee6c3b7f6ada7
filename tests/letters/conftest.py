"""Letters test helpers: a second organizer (quorum is 2) and letters in any state."""

from __future__ import annotations

import pytest
from django.utils import timezone

from letters import services
from letters.models import Letter, LetterState
from organizing.models import Role
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

TEXT = {
    "title": "Stop logging our keystrokes",
    "summary": "Work laptops record everything we type.",
    "body": "Dear leadership,\n\nplease **stop** logging our keystrokes.",
    "demands": ["Switch it off", "Delete the logs"],
}


@pytest.fixture
def organizer2(roles):
    user = make_user(mfa=True, email="org2@personal.test")
    MembershipFactory(campaign=roles.campaign, user=user, role=Role.ORGANIZER, display_name="Org2")
    return user


@pytest.fixture
def make_letter(roles, organizer2):
    """make_letter(state="draft", **fields) -> a letter of campaign acme in `state`.

    Draft and review are reached through the services; later states are set
    directly (with a correct text hash) so tests don't pay for opening, which
    makes an RSA issuer key once the signatures app listens to letter_opened.
    """

    def make(state=LetterState.DRAFT, **fields):
        data = {**TEXT, **fields}
        letter = services.letter_create(actor=roles.organizer, campaign=roles.campaign, **data)
        if state == LetterState.DRAFT:
            return letter
        services.letter_submit_for_review(actor=roles.organizer, letter=letter)
        if state == LetterState.REVIEW:
            return letter
        services.letter_approve(actor=roles.organizer, letter=letter)
        services.letter_approve(actor=organizer2, letter=letter)
        now = timezone.now()
        updates = {
            "state": state,
            "text_hash": services.compute_text_hash(
                title=letter.title, body=letter.body, demands=letter.demands
            ),
            "opened_at": now,
        }
        if state in (LetterState.CLOSED, LetterState.DELIVERED):
            updates["closed_at"] = now
        if state == LetterState.DELIVERED:
            updates["delivered_at"] = now
        Letter.objects.filter(pk=letter.pk).update(**updates)
        letter.refresh_from_db()
        return letter

    return make
