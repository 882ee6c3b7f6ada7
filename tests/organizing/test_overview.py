"""The campaign overview (/c/<slug>/manage/): the organizers' and delegates'
start of the day. What each role sees, what waits for whom, the figures
(only groups of at least k) and the channels. Moderation (reports) is not
built yet, so the overview has no place for it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from discussions import services as channel_services
from letters import services as letter_services
from letters.models import Letter, LetterState
from organizing.models import Role
from petitions import services as petition_services
from tests.petitions.factories import (
    make_done_export,
    make_issuances,
    make_letter,
    make_signatures,
)
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

URL = "/c/acme/manage/"


@pytest.fixture
def organizer2(roles):
    user = make_user(mfa=True, email="org2@personal.test")
    MembershipFactory(campaign=roles.campaign, user=user, role=Role.ORGANIZER, display_name="Org2")
    return user


def draft(roles, title="A draft", actor=None):
    return letter_services.letter_create(
        actor=actor or roles.organizer, campaign=roles.campaign, title=title, body="Text."
    )


def page(client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return response.content.decode()


def card(html: str, letter) -> str:
    start = html.index(f'id="overview-letter-{letter.pk}"')
    return html[start : html.index("</li>\n        \n", start)]


@pytest.mark.parametrize("role", ["anonymous", "member", "other_organizer"])
def test_only_organizers_and_delegates(role, roles, client_for):
    response = client_for(roles.users()[role]).get(URL)
    if role == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == 403


def test_delegate_without_second_factor_is_sent_to_set_one_up(roles, client_for):
    user = make_user(email="new-delegate@personal.test")
    MembershipFactory(campaign=roles.campaign, user=user, role=Role.DELEGATE)
    response = client_for(user).get(URL)
    assert response.status_code == 403
    assert "two-factor" in response.content.decode().lower()


def test_organizer_sees_every_letter_and_the_campaign_administration(roles, client_for):
    hidden = draft(roles, "A draft nobody else sees")
    published = make_letter(roles.campaign, slug="published", state=LetterState.OPEN)
    html = page(client_for(roles.organizer))
    assert "A draft nobody else sees" in html
    assert reverse("letters:manage_detail", args=["acme", hidden.pk]) in html
    assert reverse("letters:manage_detail", args=["acme", published.pk]) in html
    for part in ('id="members"', 'id="invitations"', 'id="audit"', "/c/acme/settings/"):
        assert part in html, part
    assert "report" not in html.lower()  # moderation does not exist yet


def test_delegate_sees_their_part_only(roles, client_for):
    draft(roles, "A draft nobody else sees")
    published = make_letter(roles.campaign, slug="published", state=LetterState.OPEN)
    html = page(client_for(roles.delegate))
    assert "A draft nobody else sees" not in html
    assert published.title in html
    assert reverse("letters:public", args=["published"]) in html
    assert reverse("letters:updates", args=["acme", published.pk]) in html
    assert reverse("petitions:list", args=["acme"]) in html
    for part in (
        'id="members"',
        'id="invitations"',
        'id="audit"',
        "/c/acme/settings/",
        "/c/acme/letters/",  # the organizers' letter pages
        "/c/acme/invite-codes/",
        "Org2",
    ):
        assert part not in html.replace(f"/c/acme/letters/{published.pk}/updates/", ""), part


def test_figures_count_goal_tokens_and_groups_of_at_least_k(roles, client_for):
    letter = make_letter(roles.campaign, slug="counted", state=LetterState.OPEN, goal=40)
    make_signatures(letter, 6, department="Legal", location="Oslo")
    make_signatures(letter, 4, start_index=6, department="Tiny", location="Lisbon")
    make_signatures(letter, 3, start_index=10, withdrawn=True, department="Gone")
    make_issuances(letter, 12)
    for user in (roles.organizer, roles.delegate):
        html = card(page(client_for(user)), letter)
        assert "<strong>10</strong> signatures of 40" in html
        assert "(25%)" in html and "12 tokens issued" in html
        assert 'max="40" value="10"' in html
        assert "Legal 6" in html and "Oslo 6" in html
        assert "Tiny" not in html and "Lisbon" not in html and "Gone" not in html


def test_approvals_and_the_quorum_wait_for_organizers(roles, organizer2, client_for):
    letter = draft(roles, "Under review")
    letter_services.letter_submit_for_review(actor=roles.organizer, letter=letter)
    html = card(page(client_for(roles.organizer)), letter)
    assert "Your approval is asked" in html
    letter_services.letter_approve(actor=roles.organizer, letter=letter)
    html = card(page(client_for(roles.organizer)), letter)
    assert "Your approval is asked" not in html and "ready to open" not in html
    assert "Your approval is asked" in card(page(client_for(organizer2)), letter)
    letter_services.letter_approve(actor=organizer2, letter=letter)
    for user in (roles.organizer, organizer2):
        assert "Approved by the quorum: ready to open." in card(page(client_for(user)), letter)


def test_a_draft_changed_by_someone_else_since_your_revision(roles, organizer2, client_for):
    letter = draft(roles, "Shared draft")
    letter_services.letter_save(
        actor=organizer2,
        letter=letter,
        base_revision=letter.current_revision,
        title="Shared draft",
        body="Text, changed.",
    )
    html = card(page(client_for(roles.organizer)), letter)
    assert "Someone else saved revision 2 after your revision 1" in html
    diff = reverse("letters:manage_diff", args=["acme", letter.pk])
    assert f"{diff}?from=1&amp;to=2" in html
    # The one who saved it last has nothing waiting; nor someone who never edited.
    assert "Someone else saved" not in card(page(client_for(organizer2)), letter)
    third = make_user(mfa=True, email="org3@personal.test")
    MembershipFactory(campaign=roles.campaign, user=third, role=Role.ORGANIZER)
    assert "Someone else saved" not in card(page(client_for(third)), letter)


def test_open_comment_threads(roles, client_for):
    letter = draft(roles, "Commented")
    comment = letter_services.comment_add(actor=roles.organizer, letter=letter, body="Hm?")
    letter_services.comment_add(actor=roles.organizer, letter=letter, body="And?")
    assert "2 open comment threads." in card(page(client_for(roles.organizer)), letter)
    letter_services.comment_resolve(actor=roles.organizer, comment=comment)
    assert "1 open comment thread." in card(page(client_for(roles.organizer)), letter)


def test_exports_and_deliveries_wait_for_delegates(roles, client_for):
    letter = make_letter(roles.campaign, slug="to-deliver", state=LetterState.CLOSED)
    make_signatures(letter, 6)
    html = card(page(client_for(roles.delegate)), letter)
    assert "Export the signed petition to deliver it." in html
    export = make_done_export(letter, created_by=roles.delegate)
    detail = reverse("petitions:detail", args=["acme", export.pk])
    html = card(page(client_for(roles.delegate)), letter)
    assert "An export is ready to deliver: record the delivery." in html and detail in html
    petition_services.delivery_record(
        actor=roles.delegate,
        export=export,
        delivered_at=timezone.now() - dt.timedelta(hours=1),
        recipient="The board",
        method="in_person",
    )
    html = card(page(client_for(roles.delegate)), letter)
    assert "Tell the signers: post the ready update about the delivery." in html
    assert "Record leadership's response when it comes." in html.replace("&#x27;", "'")
    letter.refresh_from_db()
    letter_services.update_post(actor=roles.delegate, letter=letter, title="Delivered")
    html = card(page(client_for(roles.delegate)), letter)
    assert "Tell the signers" not in html


def test_latest_updates_of_every_letter(roles, client_for):
    public = make_letter(roles.campaign, slug="public", state=LetterState.OPEN)
    unlisted = make_letter(
        roles.campaign, slug="unlisted-x", state=LetterState.OPEN, visibility="unlisted"
    )
    letter_services.update_post(actor=roles.organizer, letter=public, title="Public news")
    letter_services.update_post(actor=roles.organizer, letter=unlisted, title="Unlisted news")
    for user in (roles.organizer, roles.delegate):
        html = page(client_for(user))
        section = html[html.index('id="overview-updates"') :]
        assert "Public news" in section and "Unlisted news" in section
        assert "/c/acme/updates.atom" in section


def test_channels_the_viewer_may_join(roles, client_for):
    channel_services.channel_create(actor=roles.organizer, campaign=roles.campaign, name="all")
    channel_services.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers-only",
        allowed_roles=[Role.ORGANIZER],
    )
    archived = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="old"
    )
    channel_services.channel_archive(actor=roles.organizer, channel=archived, archived=True)
    organizer = page(client_for(roles.organizer))
    delegate = page(client_for(roles.delegate))
    assert "#all" in organizer and "#organizers-only" in organizer and "#old" not in organizer
    assert "#all" in delegate and "#organizers-only" not in delegate


def test_no_letter_yet(roles, client_for):
    assert "Start a new letter" in page(client_for(roles.organizer))
    assert "No letter is open yet." in page(client_for(roles.delegate))
    assert not Letter.objects.exists()
