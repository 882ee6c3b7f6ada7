"""Updates on letters: who may post, change and delete them, in which states,
what the public page shows (sanitized, newest first), and the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from letters import services
from letters.models import MAX_UPDATE_BODY_CHARS, LetterState, Update
from organizing.models import AuditEntry, Role
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]
STAFF = {"organizer", "delegate"}


def _post(roles, letter, title="Delivered to leadership", body="On *Monday*."):
    return services.update_post(actor=roles.organizer, letter=letter, title=title, body=body)


def _expect(role, response, ok_status):
    if role == "anonymous":
        assert response.status_code == 302, role
        assert "/accounts/login/" in response["Location"]
    elif role in STAFF:
        assert response.status_code == ok_status, (role, response.status_code)
    else:
        assert response.status_code == 403, (role, response.status_code)


# --- services ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED])
def test_staff_post_on_published_letters(state, roles, make_letter):
    letter = make_letter(state)
    for user in (roles.organizer, roles.delegate):
        update = services.update_post(actor=user, letter=letter, title=" Delivered  ", body="x\r\n")
        assert (update.title, update.body, update.author) == ("Delivered", "x", user)
        assert update.letter == letter and update.edited_at is None
    assert Update.objects.filter(letter=letter).count() == 2


@pytest.mark.parametrize("state", [LetterState.DRAFT, LetterState.REVIEW])
def test_no_update_before_the_letter_has_a_public_page(state, roles, make_letter):
    letter = make_letter(state)
    with pytest.raises(services.LetterStateError):
        _post(roles, letter)
    assert not Update.objects.exists()
    assert not AuditEntry.objects.filter(action="update.post").exists()


@pytest.mark.parametrize("who", ["member", "other_organizer", "anonymous"])
def test_others_cannot_post(who, roles, make_letter):
    from django.contrib.auth.models import AnonymousUser

    letter = make_letter("open")
    user = roles.users()[who] or AnonymousUser()
    with pytest.raises(PermissionDenied):
        services.update_post(actor=user, letter=letter, title="Hi")
    assert not Update.objects.exists()


def test_staff_without_a_second_factor_cannot_post(roles, make_letter):
    letter = make_letter("open")
    user = make_user(email="nomfa@personal.test")
    MembershipFactory(campaign=roles.campaign, user=user, role=Role.DELEGATE)
    with pytest.raises(PermissionDenied):
        services.update_post(actor=user, letter=letter, title="Hi")


@pytest.mark.parametrize(
    ("title", "body", "field"),
    [
        ("", "text", "title"),
        ("   ", "text", "title"),
        ("x" * 201, "", "title"),
        ("Right\u202eto left", "", "title"),
        ("Bell\x07", "", "title"),
        ("Fine", "x" * (MAX_UPDATE_BODY_CHARS + 1), "body"),
        ("Fine", "Form\x0cfeed", "body"),
        ("Fine", "Escape \x1b[31m", "body"),
    ],
)
def test_bad_update_text_is_refused_per_field(title, body, field, roles, make_letter):
    letter = make_letter("open")
    with pytest.raises(ValidationError) as caught:
        services.update_post(actor=roles.organizer, letter=letter, title=title, body=body)
    assert field in caught.value.message_dict
    assert not Update.objects.exists()


def test_tabs_and_line_breaks_are_fine_in_the_text(roles, make_letter):
    letter = make_letter("open")
    update = _post(roles, letter, body="Lines\n\n\tindented code")
    assert update.body == "Lines\n\n\tindented code"


def test_edit_and_delete_are_audited_and_keep_id_and_date(roles, make_letter):
    letter = make_letter("open")
    update = _post(roles, letter)
    published = update.published_at
    edited = services.update_edit(
        actor=roles.organizer, update=update, title="Delivered to the board", body="On Monday."
    )
    assert edited.pk == update.pk and edited.published_at == published
    assert edited.edited_at is not None
    # Saving the same text again changes nothing and logs nothing.
    services.update_edit(
        actor=roles.organizer, update=edited, title="Delivered to the board", body="On Monday."
    )
    services.update_delete(actor=roles.organizer, update=edited)
    assert not Update.objects.exists()
    entries = list(
        AuditEntry.objects.filter(action__startswith="update.")
        .order_by("id")
        .values_list("action", "object_id", "summary")
    )
    assert entries == [
        ("update.post", str(update.pk), f"{letter.title}: Delivered to leadership"),
        ("update.edit", str(update.pk), f"{letter.title}: Delivered to the board (title, body)"),
        ("update.delete", str(update.pk), f"{letter.title}: Delivered to the board"),
    ]
    # The entries name the organizer's account, never a signer.
    assert {e.actor for e in AuditEntry.objects.filter(action__startswith="update.")} == {
        roles.organizer
    }


def test_delegates_change_only_their_own_updates(roles, make_letter):
    letter = make_letter("open")
    by_organizer = _post(roles, letter)
    by_delegate = services.update_post(actor=roles.delegate, letter=letter, title="Mine")
    with pytest.raises(PermissionDenied):
        services.update_edit(actor=roles.delegate, update=by_organizer, title="Changed")
    with pytest.raises(PermissionDenied):
        services.update_delete(actor=roles.delegate, update=by_organizer)
    services.update_edit(actor=roles.delegate, update=by_delegate, title="Mine, better")
    # Organizers may change anyone's.
    services.update_delete(actor=roles.organizer, update=by_delegate)
    assert list(Update.objects.values_list("title", flat=True)) == ["Delivered to leadership"]


def test_a_removed_delegate_cannot_change_their_update(roles, make_letter):
    letter = make_letter("open")
    update = services.update_post(actor=roles.delegate, letter=letter, title="Mine")
    roles.campaign.memberships.filter(user=roles.delegate).update(role=Role.MEMBER)
    with pytest.raises(PermissionDenied):
        services.update_edit(actor=roles.delegate, update=update, title="Still mine?")


# --- pages, for every role ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_updates_page_for_every_role(role, roles, make_letter, client_for):
    letter = make_letter("open")
    client = client_for(roles.users()[role])
    url = reverse("letters:updates", args=["acme", letter.pk])
    response = client.get(url)
    _expect(role, response, 200)
    response = client.post(url, {"title": f"Posted by {role}", "body": "News"})
    _expect(role, response, 302)
    posted = Update.objects.filter(title=f"Posted by {role}")
    assert posted.exists() == (role in STAFF)
    if role in STAFF:
        assert response["Location"] == url


@pytest.mark.parametrize("role", ROLES)
def test_edit_and_delete_pages_for_every_role(role, roles, make_letter, client_for):
    letter = make_letter("open")
    update = _post(roles, letter)
    client = client_for(roles.users()[role])
    edit = reverse("letters:update_edit", args=["acme", letter.pk, update.pk])
    delete = reverse("letters:update_delete", args=["acme", letter.pk, update.pk])
    # The organizer's update: a delegate may read the list but not change it.
    ok = {"organizer"}
    response = client.get(edit)
    if role == "anonymous":
        assert response.status_code == 302
    else:
        assert response.status_code == (200 if role in ok else 403), role
    response = client.post(edit, {"title": f"Edited by {role}", "body": ""})
    if role not in ("anonymous",):
        assert response.status_code == (302 if role in ok else 403), role
    update.refresh_from_db()
    assert (update.title == f"Edited by {role}") == (role in ok)
    response = client.post(delete)
    assert Update.objects.filter(pk=update.pk).exists() == (role not in ok)
    if role == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_delegate_edits_and_deletes_their_own_through_the_pages(roles, make_letter, client_for):
    letter = make_letter("closed")
    update = services.update_post(actor=roles.delegate, letter=letter, title="Mine")
    client = client_for(roles.delegate)
    page = client.get(reverse("letters:updates", args=["acme", letter.pk])).content.decode()
    assert reverse("letters:update_edit", args=["acme", letter.pk, update.pk]) in page
    edit = reverse("letters:update_edit", args=["acme", letter.pk, update.pk])
    assert client.post(edit, {"title": "Mine, edited", "body": "Text"}).status_code == 302
    update.refresh_from_db()
    assert update.title == "Mine, edited"
    delete = reverse("letters:update_delete", args=["acme", letter.pk, update.pk])
    assert client.post(delete).status_code == 302
    assert not Update.objects.exists()


def test_the_list_shows_change_buttons_only_where_allowed(roles, make_letter, client_for):
    letter = make_letter("open")
    theirs = _post(roles, letter, title="Organizer's")
    mine = services.update_post(actor=roles.delegate, letter=letter, title="Delegate's")
    page = client_for(roles.delegate).get(reverse("letters:updates", args=["acme", letter.pk]))
    html = page.content.decode()
    assert reverse("letters:update_edit", args=["acme", letter.pk, mine.pk]) in html
    assert reverse("letters:update_edit", args=["acme", letter.pk, theirs.pk]) not in html


def test_updates_page_bad_input(roles, make_letter, client_for):
    letter = make_letter("open")
    client = client_for(roles.organizer)
    url = reverse("letters:updates", args=["acme", letter.pk])
    response = client.post(url, {"title": "", "body": "x"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    response = client.post(url, {"title": "Bad\u202e", "body": "x"})
    assert response.status_code == 400
    assert "control or invisible character" in response.content.decode()
    response = client.post(url, {"title": "T", "body": "x" * (MAX_UPDATE_BODY_CHARS + 1)})
    assert response.status_code == 400
    assert not Update.objects.exists()
    # An update of another letter, or none at all: 404.
    other = make_letter("open", title="Another letter")
    update = _post(roles, other)
    for update_id in (update.pk, "00000000-0000-0000-0000-000000000000"):
        edit = reverse("letters:update_edit", args=["acme", letter.pk, update_id])
        assert client.get(edit).status_code == 404
    # Another campaign's letter through this campaign's address: 404.
    assert client.get(reverse("letters:updates", args=["acme", 999_999])).status_code == 404


def test_posting_on_a_draft_is_409_with_a_message(roles, make_letter, client_for):
    letter = make_letter()
    client = client_for(roles.organizer)
    url = reverse("letters:updates", args=["acme", letter.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "once the letter is open" in page.content.decode()
    response = client.post(url, {"title": "Too early", "body": ""})
    assert response.status_code == 409
    assert "post an update on" in response.content.decode()
    assert not Update.objects.exists()


def test_preview_posts_nothing(roles, make_letter, client_for):
    letter = make_letter("open")
    url = reverse("letters:updates", args=["acme", letter.pk])
    response = client_for(roles.organizer).post(
        url, {"title": "Soon", "body": "**bold**", "preview": "1"}
    )
    assert response.status_code == 200
    assert "<strong>bold</strong>" in response.content.decode()
    assert not Update.objects.exists()


# --- the public page ------------------------------------------------------------------------


def test_public_page_lists_updates_newest_first_and_sanitized(roles, make_letter, client):
    letter = make_letter("open")
    old = _post(roles, letter, title="First news", body="Old.")
    Update.objects.filter(pk=old.pk).update(published_at=timezone.now() - dt.timedelta(days=2))
    _post(
        roles,
        letter,
        title="Second <news> & more",
        body=(
            "**Delivered.** <script>alert(1)</script> [click](javascript:alert(1)) "
            "[ok](https://example.org) ![img](https://tracker.example/pixel.png)"
            '\n\n<img src=x onerror="alert(1)">'
        ),
    )
    html = client.get(reverse("letters:public", args=[letter.slug])).content.decode()
    section = html[html.index('id="updates-heading"') :]
    assert section.index("Second &lt;news&gt; &amp; more") < section.index("First news")
    assert "<strong>Delivered.</strong>" in section
    # Raw HTML is shown as text, a javascript: link is no link, an image is
    # never loaded (at most a link to it): what the letter's own text gets.
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert 'href="javascript:' not in html
    assert not re.search(r"<[^>]*\bonerror", html)
    assert "<img" not in html
    assert 'href="https://example.org" rel="noopener noreferrer nofollow"' in section
    assert "style=" not in html
    # The progress panel points at the latest one; nobody's name is shown.
    assert "Latest update:" in html
    assert "Org" not in re.sub(r"Organiz", "", html)


def test_public_page_without_updates_says_so(roles, make_letter, client):
    letter = make_letter("closed")
    html = client.get(reverse("letters:public", args=[letter.slug])).content.decode()
    assert "No update yet." in html
    assert "Latest update:" not in html


@pytest.mark.parametrize("state", [LetterState.DRAFT, LetterState.REVIEW])
def test_delegates_do_not_reach_drafts_through_the_updates_pages(
    state, roles, make_letter, client_for
):
    letter = make_letter(state, title="Secret draft title")
    url = reverse("letters:updates", args=["acme", letter.pk])
    response = client_for(roles.delegate).get(url)
    assert response.status_code == 404
    assert b"Secret draft title" not in response.content
    assert client_for(roles.delegate).post(url, {"title": "x"}).status_code == 404
    assert client_for(roles.organizer).get(url).status_code == 200
