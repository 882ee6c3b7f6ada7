"""Revisions, stale saves, approvals and quorum, comments, visibility."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from letters import selectors, services
from letters.models import MAX_BODY_CHARS, Approval, Comment, Letter, LetterState, Visibility
from organizing.models import Membership

pytestmark = pytest.mark.django_db


def save(actor, letter, base, **text):
    data = {
        "title": letter.title,
        "summary": letter.summary,
        "body": letter.body,
        "demands": letter.demands,
        **text,
    }
    return services.letter_save(actor=actor, letter=letter, base_revision=base, **data)


# --- revisions and stale saves ---------------------------------------------------


def test_every_save_makes_an_immutable_revision(roles, make_letter):
    letter = make_letter()
    first = letter.current_revision
    save(roles.organizer, letter, first, body="Second text", note="shorter")
    assert letter.current_revision.number == 2
    assert letter.current_revision.note == "shorter"
    assert list(letter.revisions.values_list("number", "body")) == [
        (2, "Second text"),
        (1, first.body),
    ]
    with pytest.raises(TypeError):
        first.save()
    with pytest.raises(TypeError):
        first.delete()


def test_save_without_changes_makes_no_revision(roles, make_letter):
    letter = make_letter()
    save(roles.organizer, letter, letter.current_revision)
    assert letter.revisions.count() == 1


def test_stale_save_is_refused_and_nothing_is_lost(roles, make_letter, organizer2):
    letter = make_letter()
    base = letter.current_revision
    # Both organizers opened the editor on revision 1.
    mine = Letter.objects.get(pk=letter.pk)
    theirs = Letter.objects.get(pk=letter.pk)
    save(organizer2, theirs, base, body="Their wording")

    with pytest.raises(services.RevisionConflict) as caught:
        save(roles.organizer, mine, base, body="My wording")
    assert caught.value.current.body == "Their wording"
    assert caught.value.current.number == 2
    assert caught.value.base == base
    fresh = Letter.objects.get(pk=letter.pk)
    assert fresh.body == "Their wording"
    assert fresh.revisions.count() == 2

    # Merging by hand on top of the current revision works.
    save(roles.organizer, mine, caught.value.current, body="Their wording, and mine")
    fresh.refresh_from_db()
    assert fresh.body == "Their wording, and mine"
    assert [r.body for r in fresh.revisions.order_by("number")] == [
        base.body,
        "Their wording",
        "Their wording, and mine",
    ]


@pytest.mark.parametrize("base", [None, "", "abc", 10**9])
def test_save_with_missing_or_bogus_base_is_a_conflict(roles, make_letter, base):
    letter = make_letter()
    with pytest.raises(services.RevisionConflict) as caught:
        save(roles.organizer, letter, base, body="x")
    assert caught.value.base is None
    assert Letter.objects.get(pk=letter.pk).body == letter.body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_on_postgres_one_wins_one_conflicts(roles, make_letter, organizer2):
    letter = make_letter()
    base_id = letter.current_revision_id
    barrier = threading.Barrier(2)
    outcomes = {}

    def run(actor, body):
        try:
            barrier.wait()
            mine = Letter.objects.get(pk=letter.pk)
            save(actor, mine, base_id, body=body)
            outcomes[body] = "saved"
        except services.RevisionConflict:
            outcomes[body] = "conflict"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(roles.organizer, "Text A")),
        threading.Thread(target=run, args=(organizer2, "Text B")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "saved"]
    winner = next(body for body, outcome in outcomes.items() if outcome == "saved")
    fresh = Letter.objects.get(pk=letter.pk)
    assert fresh.body == winner
    assert fresh.revisions.count() == 2


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"title": "  "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"summary": "s" * 501}, "summary"),
        ({"body": "b" * (MAX_BODY_CHARS + 1)}, "body"),
        ({"demands": [f"d{i}" for i in range(31)]}, "demands"),
        ({"demands": ["d" * 501]}, "demands"),
        ({"language": "english!"}, "language"),
        ({"goal": 0}, "goal"),
        ({"goal": 10**8}, "goal"),
    ],
)
def test_bad_input_is_refused_with_a_field_error(roles, make_letter, fields, field):
    letter = make_letter()
    with pytest.raises(ValidationError) as caught:
        save(roles.organizer, letter, letter.current_revision, **fields)
    assert field in caught.value.message_dict
    assert letter.revisions.count() == 1


def test_text_is_normalized(roles):
    letter = services.letter_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        title="  Two\nlines ",
        body="a\r\nb  \r\n",
        demands="first\n\n  second  \n",
    )
    assert letter.title == "Two lines"
    assert letter.body == "a\nb"
    assert letter.demands == ["first", "second"]


def test_slugs_are_unique_and_derived(roles):
    a = services.letter_create(actor=roles.organizer, campaign=roles.campaign, title="Hello World")
    b = services.letter_create(actor=roles.organizer, campaign=roles.campaign, title="Hello World")
    assert (a.slug, b.slug) == ("hello-world", "hello-world-2")
    with pytest.raises(ValidationError) as caught:
        services.letter_create(
            actor=roles.organizer, campaign=roles.campaign, title="x", slug="hello-world"
        )
    assert "slug" in caught.value.message_dict


# --- unlisted letters ---------------------------------------------------------------


def test_unlisted_letters_have_an_unguessable_slug_and_are_never_listed(roles, make_letter):
    public = make_letter("open", title="Public one", slug="public-one")
    unlisted = make_letter("open", title="Secret one", slug="secret-one", visibility="unlisted")
    assert unlisted.slug.startswith("secret-one-")
    assert len(unlisted.slug) >= len("secret-one-") + 24
    assert unlisted.slug.endswith(unlisted.unlisted_token)
    assert list(selectors.public_open_letters()) == [public]
    assert list(selectors.campaign_public_letters(roles.campaign)) == [public]
    assert selectors.published_letter(unlisted.slug) == unlisted
    assert selectors.published_letter("secret-one") is None


def test_visibility_change_gives_a_fresh_address(roles, make_letter):
    letter = make_letter("open", slug="walkout")
    assert letter.slug == "walkout"
    services.letter_set_visibility(actor=roles.organizer, letter=letter, visibility="unlisted")
    first_secret = letter.slug
    assert first_secret.startswith("walkout-") and first_secret != "walkout"
    services.letter_set_visibility(actor=roles.organizer, letter=letter, visibility="unlisted")
    assert letter.slug != first_secret  # rotated: the leaked link is dead
    services.letter_set_visibility(actor=roles.organizer, letter=letter, visibility="public")
    assert Letter.objects.get(pk=letter.pk).slug == "walkout"
    assert letter.visibility == Visibility.PUBLIC
    for role, user in roles.users().items():
        if role != "organizer":
            with pytest.raises(PermissionDenied):
                services.letter_set_visibility(actor=user, letter=letter, visibility="unlisted")
    with pytest.raises(ValidationError):
        services.letter_set_visibility(actor=roles.organizer, letter=letter, visibility="secret")


# --- approvals and quorum --------------------------------------------------------------


def test_quorum_needs_distinct_organizers(roles, make_letter, organizer2):
    letter = make_letter("review")
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=roles.organizer, letter=letter)  # no double counting
    assert services.approval_count(letter) == 1
    assert Approval.objects.filter(letter=letter).count() == 1
    with pytest.raises(services.LetterStateError, match="2 distinct"):
        services.letter_open(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    assert services.approval_count(letter) == 2
    services.letter_open(actor=roles.organizer, letter=letter)
    assert letter.state == LetterState.OPEN


def test_quorum_follows_the_campaign_setting(roles, make_letter, organizer2):
    roles.campaign.approval_quorum = 1
    roles.campaign.save()
    letter = make_letter("review")
    services.letter_approve(actor=organizer2, letter=letter)
    services.letter_open(actor=roles.organizer, letter=letter)
    assert Letter.objects.get(pk=letter.pk).state == LetterState.OPEN


def test_returning_to_draft_voids_approvals(roles, make_letter, organizer2):
    letter = make_letter("review")
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    services.letter_return_to_draft(actor=roles.organizer, letter=letter)
    assert Approval.objects.filter(letter=letter, voided_at__isnull=True).count() == 0
    assert Approval.objects.filter(letter=letter).count() == 2  # history kept
    save(roles.organizer, letter, letter.current_revision, body="Changed text")
    services.letter_submit_for_review(actor=roles.organizer, letter=letter)
    assert services.approval_count(letter) == 0
    with pytest.raises(services.LetterStateError):
        services.letter_open(actor=roles.organizer, letter=letter)
    # They can approve the new text again.
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    services.letter_open(actor=roles.organizer, letter=letter)
    assert letter.text_hash == services.compute_text_hash(
        title=letter.title, body="Changed text", demands=letter.demands
    )


def test_approval_of_a_text_one_did_not_read_is_refused(roles, make_letter, organizer2):
    letter = make_letter("review")
    read = letter.current_revision
    services.letter_return_to_draft(actor=organizer2, letter=letter)
    save(organizer2, letter, read, body="Sneaky change")
    services.letter_submit_for_review(actor=organizer2, letter=letter)
    with pytest.raises(services.RevisionConflict):
        services.letter_approve(actor=roles.organizer, letter=letter, revision=read)
    assert services.approval_count(letter) == 0
    services.letter_approve(actor=roles.organizer, letter=letter, revision=letter.current_revision)
    assert services.approval_count(letter) == 1


def test_approval_of_a_demoted_organizer_no_longer_counts(roles, make_letter, organizer2):
    letter = make_letter("review")
    services.letter_approve(actor=roles.organizer, letter=letter)
    services.letter_approve(actor=organizer2, letter=letter)
    Membership.objects.filter(user=organizer2).update(role="member")
    assert services.approval_count(letter) == 1
    with pytest.raises(services.LetterStateError):
        services.letter_open(actor=roles.organizer, letter=letter)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_approval_counts_once(roles, make_letter):
    letter = make_letter("review")
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            services.letter_approve(actor=roles.organizer, letter=Letter.objects.get(pk=letter.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Approval.objects.filter(letter=letter).count() == 1


# --- comments ------------------------------------------------------------------------------


def test_comments_thread_one_level_and_resolve(roles, make_letter, organizer2):
    letter = make_letter()
    top = services.comment_add(actor=roles.organizer, letter=letter, body="Too long?")
    reply = services.comment_add(actor=organizer2, letter=letter, body="Agreed", parent=top)
    nested = services.comment_add(actor=roles.organizer, letter=letter, body="OK", parent=reply)
    assert nested.parent == top  # replies to replies join the thread
    assert top.revision == letter.current_revision
    assert (top.author_name, reply.author_name) == ("Org", "Org2")

    services.comment_resolve(actor=organizer2, comment=reply)
    top.refresh_from_db()
    assert top.is_resolved and top.resolved_by == organizer2
    services.comment_resolve(actor=roles.organizer, comment=top, resolved=False)
    top.refresh_from_db()
    assert not top.is_resolved
    threads = list(selectors.letter_comment_threads(letter))
    assert threads == [top]
    assert [c.body for c in threads[0].replies.all()] == ["Agreed", "OK"]


def test_comment_validation_and_roles(roles, make_letter):
    letter = make_letter()
    other = make_letter(title="Other letter")
    foreign = services.comment_add(actor=roles.organizer, letter=other, body="elsewhere")
    for body in ["", "   ", "x" * 5001]:
        with pytest.raises(ValidationError):
            services.comment_add(actor=roles.organizer, letter=letter, body=body)
    with pytest.raises(ValidationError):
        services.comment_add(actor=roles.organizer, letter=letter, body="hi", parent=foreign)
    top = services.comment_add(actor=roles.organizer, letter=letter, body="hi")
    for role, user in roles.users().items():
        if role == "organizer":
            continue
        with pytest.raises(PermissionDenied):
            services.comment_add(actor=user, letter=letter, body="hi")
        with pytest.raises(PermissionDenied):
            services.comment_resolve(actor=user, comment=top)
    assert Comment.objects.filter(letter=letter).count() == 1
