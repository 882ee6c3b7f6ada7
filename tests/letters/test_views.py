"""Letter pages: authorization for every role, the public page, editing flows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from letters import services
from letters.models import MAX_BODY_CHARS, Comment, Letter, LetterState
from organizing.models import AuditEntry
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db


def _form(letter, **changes):
    data = {
        "title": letter.title,
        "summary": letter.summary,
        "body": letter.body,
        "demands": "\n".join(letter.demands),
        "language": letter.language,
        "goal": letter.goal,
        "deadline": "",
        "note": "",
        "base_revision": letter.current_revision_id,
    }
    data.update(changes)
    return data


# --- authorization of every organizer view, for every role -----------------------

# name -> (method, url name, needs letter args, extra path args, data, expected organizer status)
ORGANIZER_VIEWS = {
    "list": ("get", "letters:manage_list", False, [], None, 200),
    "create_form": ("get", "letters:manage_create", False, [], None, 200),
    "create": ("post", "letters:manage_create", False, [], "create", 302),
    "detail": ("get", "letters:manage_detail", True, [], None, 200),
    "edit_form": ("get", "letters:manage_edit", True, [], None, 200),
    "edit": ("post", "letters:manage_edit", True, [], "edit", 302),
    "history": ("get", "letters:manage_history", True, [], None, 200),
    "diff": ("get", "letters:manage_diff", True, [], None, 200),
    "comment": ("post", "letters:comment_add", True, [], {"body": "Nice"}, 302),
    "resolve": ("post", "letters:comment_resolve", True, ["comment"], {"resolved": "1"}, 302),
    "submit": ("post", "letters:manage_transition", True, ["submit"], {}, 302),
    "visibility": ("post", "letters:manage_visibility", True, [], {"visibility": "unlisted"}, 302),
}


@pytest.mark.parametrize(
    "role", ["anonymous", "member", "delegate", "organizer", "other_organizer"]
)
@pytest.mark.parametrize("view", list(ORGANIZER_VIEWS))
def test_organizer_views_for_every_role(view, role, roles, make_letter, client_for):
    method, name, with_letter, extra, data, organizer_status = ORGANIZER_VIEWS[view]
    letter = make_letter()
    comment = services.comment_add(actor=roles.organizer, letter=letter, body="First")
    args = [roles.campaign.slug]
    if with_letter:
        args.append(letter.pk)
    args += [comment.pk if a == "comment" else a for a in extra]
    url = reverse(name, args=args)
    if data == "create":
        data = {
            "title": "Another letter",
            "body": "Text",
            "language": "en",
            "goal": 10,
            "visibility": "public",
            "demands": "",
            "summary": "",
        }
    elif data == "edit":
        data = _form(letter, body="Edited")
    client = client_for(roles.users()[role])
    audit_before = AuditEntry.objects.count()
    response = getattr(client, method)(url, data) if method == "post" else client.get(url)

    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    elif role != "organizer":
        assert response.status_code == 403
    else:
        assert response.status_code == organizer_status, response.content[:500]
        if method == "post":
            assert AuditEntry.objects.count() > audit_before
        return
    assert AuditEntry.objects.count() == audit_before
    fresh = Letter.objects.get(pk=letter.pk)
    assert (fresh.body, fresh.state, fresh.slug) == (letter.body, letter.state, letter.slug)
    assert Letter.objects.count() == 1
    assert Comment.objects.count() == 1


def test_organizer_without_mfa_gets_the_mfa_page(roles, make_letter, client_for):
    user = make_user(email="nomfa@personal.test")
    MembershipFactory(campaign=roles.campaign, user=user, role="organizer")
    response = client_for(user).get(reverse("letters:manage_list", args=["acme"]))
    assert response.status_code == 403
    assert b"two-factor" in response.content.lower()


def test_other_campaigns_letters_are_not_reachable_through_own_campaign(
    roles, make_letter, client_for
):
    letter = make_letter()
    client = client_for(roles.other_organizer)
    for name in ("letters:manage_detail", "letters:manage_edit", "letters:manage_history"):
        assert client.get(reverse(name, args=["other", letter.pk])).status_code == 404
    response = client.post(
        reverse("letters:manage_transition", args=["other", letter.pk, "submit"])
    )
    assert response.status_code == 404
    assert Letter.objects.get(pk=letter.pk).state == LetterState.DRAFT


def test_unknown_transition_is_404(roles, make_letter, client_for):
    letter = make_letter()
    url = reverse("letters:manage_transition", args=["acme", letter.pk, "explode"])
    assert client_for(roles.organizer).post(url).status_code == 404


def test_transition_in_wrong_state_is_409_with_message(roles, make_letter, client_for):
    letter = make_letter()
    url = reverse("letters:manage_transition", args=["acme", letter.pk, "open"])
    response = client_for(roles.organizer).post(url)
    assert response.status_code == 409
    assert "You cannot open a letter that is “Draft”" in response.content.decode()


def test_get_on_transition_is_refused(roles, make_letter, client_for):
    letter = make_letter()
    url = reverse("letters:manage_transition", args=["acme", letter.pk, "submit"])
    assert client_for(roles.organizer).get(url).status_code == 405
    assert Letter.objects.get(pk=letter.pk).state == LetterState.DRAFT


def test_manage_page_links_to_letters(roles, client_for):
    response = client_for(roles.organizer).get(reverse("organizing:manage", args=["acme"]))
    assert reverse("letters:manage_list", args=["acme"]) in response.content.decode()


# --- the public page ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["anonymous", "member", "delegate", "organizer", "other_organizer"]
)
def test_public_page_for_every_role(role, roles, make_letter, client_for):
    letter = make_letter("open", language="de")
    response = client_for(roles.users()[role]).get(reverse("letters:public", args=[letter.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert letter.text_hash in html


@pytest.mark.parametrize("state", ["draft", "review"])
def test_unpublished_letters_are_404(state, roles, make_letter, client_for):
    letter = make_letter(state)
    for user in roles.users().values():
        response = client_for(user).get(reverse("letters:public", args=[letter.slug]))
        assert response.status_code == 404


def test_public_page_content(roles, make_letter, client):
    from datetime import timedelta

    from django.utils import timezone

    letter = make_letter(
        "open",
        body="Dear CEO,\n\n<script>alert(1)</script> [site](https://example.org)",
        demands=["Stop logging", "Delete the logs"],
        goal=500,
    )
    Letter.objects.filter(pk=letter.pk).update(deadline=timezone.now() + timedelta(days=3))
    response = client.get(reverse("letters:public", args=[letter.slug]))
    html = response.content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<li>Stop logging</li>" in html and "<li>Delete the logs</li>" in html
    assert re.search(r'<progress id="goal-progress" max="500" value="0">', html)
    assert "<time datetime=" in html
    assert f'<code class="text-hash" id="text-hash">{letter.text_hash}</code>' in html
    assert '<meta property="og:title" content="Stop logging our keystrokes">' in html
    og_image = re.search(r'<meta property="og:image" content="([^"]+)">', html).group(1)
    assert og_image == "http://testserver/static/img/og-letter.png"
    og_url = re.search(r'<meta property="og:url" content="([^"]+)">', html).group(1)
    assert og_url == f"http://testserver/letters/{letter.slug}/"
    assert "noindex" not in html
    # Strict CSP: no inline script or style anywhere on the page.
    assert "<script" not in html
    assert "style=" not in html and "<style" not in html
    # Readable without JavaScript: the text is in the HTML.
    assert "Dear CEO," in html


def test_public_page_query_count(roles, make_letter, client, django_assert_num_queries):
    letter = make_letter("open")
    url = reverse("letters:public", args=[letter.slug])
    # 1 letter with its campaign, 1 for its updates, 5 for the figures (the
    # latest checkpoint, as this letter has no log its rows' count, tokens,
    # departments, locations) and 2 for the timeline (signatures and tokens
    # per day).
    with django_assert_num_queries(9):
        assert client.get(url).status_code == 200
    # Figures and timeline are then cached for a few seconds: the letter and
    # its updates are the only queries.
    with django_assert_num_queries(2):
        assert client.get(url).status_code == 200


def test_unlisted_letter_only_through_its_secret_address(roles, make_letter, client):
    letter = make_letter("open", slug="secret-letter", visibility="unlisted")
    assert client.get("/letters/secret-letter/").status_code == 404
    response = client.get(reverse("letters:public", args=[letter.slug]))
    assert response.status_code == 200
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()
    assert (
        letter.slug
        not in client.get(reverse("organizing:campaign", args=["acme"])).content.decode()
    )
    assert letter.slug not in client.get(reverse("organizing:home")).content.decode()


# --- editing -----------------------------------------------------------------------------------


def test_create_with_preview_then_save(roles, client_for):
    client = client_for(roles.organizer)
    url = reverse("letters:manage_create", args=["acme"])
    data = {
        "title": "Our letter",
        "summary": "",
        "body": "Hello **all**",
        "demands": "One\nTwo",
        "language": "en",
        "goal": 50,
        "visibility": "public",
        "deadline": "",
    }
    response = client.post(url, {**data, "preview": "1"})
    assert response.status_code == 200
    assert "<strong>all</strong>" in response.content.decode()
    assert Letter.objects.count() == 0
    response = client.post(url, {**data, "save": "1"})
    letter = Letter.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("letters:manage_detail", args=["acme", letter.pk])
    assert letter.demands == ["One", "Two"] and letter.slug == "our-letter"


def test_overlong_body_gets_a_clear_error(roles, make_letter, client_for):
    letter = make_letter()
    url = reverse("letters:manage_edit", args=["acme", letter.pk])
    response = client_for(roles.organizer).post(url, _form(letter, body="x" * (MAX_BODY_CHARS + 1)))
    assert response.status_code == 400
    assert (
        f"The text is too long: {MAX_BODY_CHARS + 1} characters, at most {MAX_BODY_CHARS}."
        in response.content.decode()
    )
    assert letter.revisions.count() == 1


def test_bad_create_input_is_400(roles, client_for):
    url = reverse("letters:manage_create", args=["acme"])
    response = client_for(roles.organizer).post(
        url, {"title": "", "body": "x", "language": "??", "goal": "lots", "visibility": "nope"}
    )
    assert response.status_code == 400
    assert Letter.objects.count() == 0


def test_stale_save_shows_conflict_page_with_both_versions(
    roles, make_letter, organizer2, client_for
):
    letter = make_letter(body="We ask you to stop.")
    url = reverse("letters:manage_edit", args=["acme", letter.pk])
    base = letter.current_revision_id
    theirs = client_for(organizer2).post(url, _form(letter, body="We demand you stop."))
    assert theirs.status_code == 302
    response = client_for(roles.organizer).post(
        url, _form(letter, body="We ask you to stop now.", base_revision=base)
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Someone saved first" in html
    # Their change (base -> current) and mine (current -> mine), word by word.
    theirs_part, mine_part = html.split('id="mine-heading"')
    assert '<del class="diff-del">ask</del><ins class="diff-ins">demand</ins>' in theirs_part
    assert '<del class="diff-del">demand</del><ins class="diff-ins">ask</ins>' in mine_part
    assert "now." in mine_part.split('id="merge-heading"')[0]
    # My text is kept in the merge form, based on the current revision.
    assert "We ask you to stop now.</textarea>" in html
    current = Letter.objects.get(pk=letter.pk).current_revision
    assert f'name="base_revision" value="{current.pk}"' in html
    assert Letter.objects.get(pk=letter.pk).body == "We demand you stop."
    # Saving the merged text from that form works.
    response = client_for(roles.organizer).post(
        url, _form(letter, body="We demand you stop now.", base_revision=current.pk)
    )
    assert response.status_code == 302
    assert Letter.objects.get(pk=letter.pk).body == "We demand you stop now."


def test_edit_refused_outside_draft(roles, make_letter, client_for):
    letter = make_letter("review")
    url = reverse("letters:manage_edit", args=["acme", letter.pk])
    client = client_for(roles.organizer)
    assert client.get(url).status_code == 409
    assert client.post(url, _form(letter, body="changed")).status_code == 409
    assert Letter.objects.get(pk=letter.pk).body == letter.body


def test_history_and_diff(roles, make_letter, client_for):
    letter = make_letter(body="one two three")
    services.letter_save(
        actor=roles.organizer,
        letter=letter,
        base_revision=letter.current_revision,
        title=letter.title,
        summary=letter.summary,
        body="one 2 three",
        demands=letter.demands,
        note="digits",
    )
    client = client_for(roles.organizer)
    html = client.get(reverse("letters:manage_history", args=["acme", letter.pk])).content.decode()
    assert "Revision 2" in html and "digits" in html and "Org" in html
    assert "org@personal.test" not in html  # display names, never emails
    url = reverse("letters:manage_diff", args=["acme", letter.pk])
    html = client.get(url, {"from": 1, "to": 2}).content.decode()
    assert '<del class="diff-del">two</del><ins class="diff-ins">2</ins>' in html
    assert client.get(url, {"from": "x", "to": 2}).status_code == 400
    assert client.get(url, {"from": 1, "to": 9}).status_code == 404


def test_comment_thread_through_views(roles, make_letter, organizer2, client_for):
    letter = make_letter()
    url = reverse("letters:comment_add", args=["acme", letter.pk])
    client_for(roles.organizer).post(url, {"body": "Shorter, please"})
    top = Comment.objects.get()
    client_for(organizer2).post(url, {"body": "Done in r2", "parent": top.pk})
    assert client_for(organizer2).post(url, {"body": ""}).status_code == 400
    assert client_for(organizer2).post(url, {"body": "x" * 5001}).status_code == 400
    assert client_for(organizer2).post(url, {"body": "hi", "parent": 999999}).status_code == 404
    resolve = reverse("letters:comment_resolve", args=["acme", letter.pk, top.pk])
    client_for(roles.organizer).post(resolve, {"resolved": "1"})
    html = (
        client_for(roles.organizer)
        .get(reverse("letters:manage_detail", args=["acme", letter.pk]))
        .content.decode()
    )
    assert "Shorter, please" in html and "Done in r2" in html and "resolved" in html
    assert Comment.objects.get(pk=top.pk).is_resolved


def test_approve_and_open_through_views(roles, make_letter, organizer2, client_for):
    letter = make_letter("review")
    approve = reverse("letters:manage_transition", args=["acme", letter.pk, "approve"])
    client_for(roles.organizer).post(approve, {"revision": letter.current_revision_id})
    # A stale approval (revision the organizer did not read) is refused.
    response = client_for(organizer2).post(approve, {"revision": 999999})
    assert response.status_code == 409
    client_for(organizer2).post(approve, {"revision": letter.current_revision_id})
    open_url = reverse("letters:manage_transition", args=["acme", letter.pk, "open"])
    assert client_for(organizer2).post(open_url).status_code == 302
    letter.refresh_from_db()
    assert letter.state == LetterState.OPEN and len(letter.text_hash) == 64


def test_public_page_links_to_signing_while_open(roles, make_letter, client):
    letter = make_letter("open")
    sign_url = reverse("signatures:sign", args=[letter.slug])
    assert (
        f'href="{sign_url}"'
        in client.get(reverse("letters:public", args=[letter.slug])).content.decode()
    )
    Letter.objects.filter(pk=letter.pk).update(state=LetterState.CLOSED)
    html = client.get(reverse("letters:public", args=[letter.slug])).content.decode()
    assert f'href="{sign_url}"' not in html
    assert "no longer accepts signatures" in html


def test_admin_cannot_change_letters(roles, make_letter, client):
    from tests.support.sessions import login_with_mfa
    from tests.support.users import make_user

    letter = make_letter("open")
    admin_user = make_user(mfa=True, email="root@personal.test", is_staff=True, is_superuser=True)
    login_with_mfa(client, admin_user)
    url = reverse("admin:letters_letter_change", args=[letter.pk])
    assert client.get(url).status_code == 200  # view only
    client.post(url, {"title": "Changed", "body": "Changed"})
    assert Letter.objects.get(pk=letter.pk).title == letter.title
