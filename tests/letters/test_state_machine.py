"""Every transition, from every state, by every role."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import PermissionDenied

from letters import services
from letters.models import Letter, LetterState
from letters.signals import letter_opened
from organizing.models import AuditEntry
from organizing.services import MFARequired
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

STATES = [s.value for s in LetterState]


def _save(actor, letter):
    return services.letter_save(
        actor=actor,
        letter=letter,
        base_revision=letter.current_revision_id,
        title="A new title",
        body="New text",
        demands=["One"],
    )


# transition -> (function, state it starts from, state it leads to, roles allowed)
TRANSITIONS = {
    "save": (_save, "draft", "draft", {"organizer"}),
    "submit": (
        lambda actor, letter: services.letter_submit_for_review(actor=actor, letter=letter),
        "draft",
        "review",
        {"organizer"},
    ),
    "return": (
        lambda actor, letter: services.letter_return_to_draft(actor=actor, letter=letter),
        "review",
        "draft",
        {"organizer"},
    ),
    "approve": (
        lambda actor, letter: services.letter_approve(actor=actor, letter=letter),
        "review",
        "review",
        {"organizer"},
    ),
    "open": (
        lambda actor, letter: services.letter_open(actor=actor, letter=letter),
        "review",
        "open",
        {"organizer"},
    ),
    "close": (
        lambda actor, letter: services.letter_close(actor=actor, letter=letter),
        "open",
        "closed",
        {"organizer"},
    ),
    "deliver": (
        lambda actor, letter: services.letter_deliver(actor=actor, letter=letter),
        "closed",
        "delivered",
        {"organizer", "delegate"},
    ),
}
ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]


def _snapshot(letter):
    fresh = Letter.objects.get(pk=letter.pk)
    return (fresh.state, fresh.title, fresh.text_hash, fresh.current_revision_id)


@pytest.mark.parametrize("state", STATES)
def test_every_transition_by_every_role(state, roles, make_letter, organizer2):
    """From `state`, each transition by each role either succeeds (allowed role,
    right state: new state, audit entry) or is refused without any change."""
    refused = make_letter(state, title=f"Refusals from {state}")
    for name, (function, from_state, to_state, allowed_roles) in TRANSITIONS.items():
        for role in ROLES:
            case = f"{name} by {role} from {state}"
            actor = roles.users()[role]
            allowed = role in allowed_roles and state == from_state
            letter = make_letter(state, title=f"{case}") if allowed else refused
            if allowed and name == "open":
                services.letter_approve(actor=roles.organizer, letter=letter)
                services.letter_approve(actor=organizer2, letter=letter)
            before = _snapshot(letter)
            audit_before = AuditEntry.objects.count()

            if allowed:
                function(actor, letter)
                assert _snapshot(letter)[0] == to_state, case
                assert letter.state == to_state, case  # the caller's instance follows
                entry = AuditEntry.objects.order_by("-id").first()
                assert AuditEntry.objects.count() == audit_before + 1, case
                assert (entry.actor, entry.object_id) == (actor, str(letter.pk)), case
                assert entry.action.startswith("letter."), case
                continue
            expected = PermissionDenied if role not in allowed_roles else services.LetterStateError
            with pytest.raises(expected):
                function(actor, letter)
            assert _snapshot(letter) == before, case
            assert AuditEntry.objects.count() == audit_before, case


def test_organizer_without_mfa_is_refused(roles, make_letter):
    letter = make_letter()
    no_mfa = make_user(email="nomfa@personal.test")
    MembershipFactory(campaign=roles.campaign, user=no_mfa, role="organizer")
    with pytest.raises(MFARequired):
        services.letter_submit_for_review(actor=no_mfa, letter=letter)
    with pytest.raises(MFARequired):
        services.letter_create(actor=no_mfa, campaign=roles.campaign, title="x", body="y")


def test_create_by_role(roles):
    for role, user in roles.users().items():
        if role == "organizer":
            letter = services.letter_create(
                actor=user, campaign=roles.campaign, title="Hello", body="Text"
            )
            assert letter.state == LetterState.DRAFT
            assert letter.current_revision.number == 1
            assert letter.current_revision.author == user
        else:
            with pytest.raises(PermissionDenied):
                services.letter_create(actor=user, campaign=roles.campaign, title="x", body="y")
    assert Letter.objects.count() == 1


def test_open_records_hash_of_canonical_text_and_sends_signal(roles, make_letter, organizer2):
    letter = make_letter(
        "review", title="Stop it", body="Dear CEO,\n\nstop — now.", demands=["Ä", 'say "no"']
    )
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    seen = []

    def receiver(sender, letter, **kwargs):
        # Inside the transaction, the letter is already open with its hash.
        seen.append((sender, letter.state, letter.text_hash))

    letter_opened.connect(receiver)
    try:
        services.letter_open(actor=roles.organizer, letter=letter)
    finally:
        letter_opened.disconnect(receiver)

    canonical = (
        '{"body":"Dear CEO,\\n\\nstop — now.","demands":["Ä","say \\"no\\""],"title":"Stop it"}'
    )
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    letter.refresh_from_db()
    assert letter.text_hash == expected
    assert letter.opened_at is not None
    assert seen == [(Letter, "open", expected)]


def test_open_rolls_back_when_a_receiver_fails(roles, make_letter, organizer2):
    letter = make_letter("review")
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    audit_before = AuditEntry.objects.count()

    def broken(sender, letter, **kwargs):
        raise RuntimeError("issuer key failed")

    letter_opened.connect(broken)
    try:
        with pytest.raises(RuntimeError):
            services.letter_open(actor=roles.organizer, letter=letter)
    finally:
        letter_opened.disconnect(broken)
    fresh = Letter.objects.get(pk=letter.pk)
    assert fresh.state == LetterState.REVIEW
    assert fresh.text_hash == ""
    assert fresh.opened_at is None
    assert letter.state == LetterState.REVIEW
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("state", ["review", "open", "closed", "delivered"])
def test_text_cannot_change_after_draft(state, roles, make_letter):
    letter = make_letter(state)
    with pytest.raises(services.LetterStateError):
        _save(roles.organizer, letter)
    assert Letter.objects.get(pk=letter.pk).title == letter.title
    assert letter.revisions.count() == 1


def test_open_refused_after_deadline(roles, make_letter, organizer2):
    from datetime import timedelta

    from django.utils import timezone

    letter = make_letter("review")
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    Letter.objects.filter(pk=letter.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    with pytest.raises(services.LetterStateError, match="deadline"):
        services.letter_open(actor=roles.organizer, letter=letter)
    assert Letter.objects.get(pk=letter.pk).state == LetterState.REVIEW


def test_beat_task_closes_expired_letters_only(roles, make_letter):
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from letters.tasks import close_expired_letters

    expired = make_letter("open", title="Expired")
    running = make_letter("open", title="Running")
    make_letter("open", title="Forever")
    draft = make_letter("draft", title="Draft")
    now = timezone.now()
    Letter.objects.filter(pk__in=[expired.pk, draft.pk]).update(deadline=now - timedelta(hours=1))
    Letter.objects.filter(pk=running.pk).update(deadline=now + timedelta(hours=1))

    assert close_expired_letters.delay().get() == 1
    states = dict(Letter.objects.values_list("title", "state"))
    assert states == {
        "Expired": "closed",
        "Running": "open",
        "Forever": "open",
        "Draft": "draft",
    }
    entry = AuditEntry.objects.filter(action="letter.close").get()
    assert entry.actor is None and entry.summary == "deadline reached"
    assert close_expired_letters.delay().get() == 0  # idempotent
    schedule = settings.CELERY_BEAT_SCHEDULE["letters-close-expired"]
    assert schedule["task"] == close_expired_letters.name


def test_demoted_organizer_cannot_act(roles, make_letter):
    from organizing.models import Membership

    letter = make_letter()
    Membership.objects.filter(user=roles.organizer, campaign=roles.campaign).update(role="member")
    with pytest.raises(PermissionDenied):
        services.letter_submit_for_review(actor=roles.organizer, letter=letter)


def test_documented_canonical_form_matches_the_code():
    """docs/organizers-guide.md states the canonical form others rely on."""
    import re
    from pathlib import Path

    from django.conf import settings

    guide = (Path(settings.BASE_DIR) / "docs" / "organizers-guide.md").read_text("utf-8")
    documented = re.search(r"sha256 = ([0-9a-f]{64})", guide).group(1)
    text = {"title": "Stop it", "body": "Dear CEO,\n\nstop — now.", "demands": ["Ä", 'say "no"']}
    assert services.compute_text_hash(**text) == documented
    assert services.canonical_text(**text).decode() in guide
