"""The Atom feeds (RFC 4287) of letters' updates: read back with feedparser,
checked element by element against the RFC's rules, and attacked for leaks
of unpublished or unlisted letters."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import feedparser
import pytest
from django.urls import reverse
from django.utils import timezone

from letters import services
from letters.models import Letter, LetterState, Update, Visibility

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
# RFC 3339 date-time, as RFC 4287 section 3.3 requires.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _post(roles, letter, title, body="", *, days_ago=0):
    update = services.update_post(actor=roles.organizer, letter=letter, title=title, body=body)
    if days_ago:
        when = timezone.now() - dt.timedelta(days=days_ago)
        Update.objects.filter(pk=update.pk).update(published_at=when)
        update.refresh_from_db()
    return update


def _get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    assert response["Content-Type"] == ATOM_TYPE
    assert response["Cache-Control"] == "no-store"
    return response.content


def check_atom(document: bytes) -> ET.Element:
    """Well-formed XML and the structure RFC 4287 requires of a feed; returns the root."""
    assert document.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(document)  # raises on XML that is not well-formed  # noqa: S314
    assert root.tag == f"{ATOM}feed"
    # 4.1.1: exactly one id, title and updated; an author (here on the feed).
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
        assert root.findtext(f"{ATOM}{name}").strip(), name
    assert RFC3339.match(root.findtext(f"{ATOM}updated"))
    authors = root.findall(f"{ATOM}author")
    assert len(authors) == 1 and authors[0].findtext(f"{ATOM}name").strip()
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert set(links) == {"alternate", "self"}
    assert all(href.startswith("http://testserver/") for href in links.values())
    ids = set()
    for entry in root.findall(f"{ATOM}entry"):
        # 4.1.2: exactly one id, title, updated; a link alternate (no content src).
        for name in ("id", "title", "updated", "published"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert RFC3339.match(entry.findtext(f"{ATOM}updated"))
        assert RFC3339.match(entry.findtext(f"{ATOM}published"))
        entry_id = entry.findtext(f"{ATOM}id")
        assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", entry_id), entry_id
        assert entry_id not in ids
        ids.add(entry_id)
        (link,) = entry.findall(f"{ATOM}link")
        assert link.get("rel") == "alternate" and link.get("href").startswith("http://testserver/")
        (content,) = entry.findall(f"{ATOM}content")
        assert content.get("type") == "html"
    return root


def entry_ids(root: ET.Element) -> list[str]:
    return [entry.findtext(f"{ATOM}id") for entry in root.findall(f"{ATOM}entry")]


# --- the letter's feed ------------------------------------------------------------------


def test_letter_feed_parses_and_validates(roles, make_letter, client):
    letter = make_letter("open", language="de")
    first = _post(roles, letter, "Übergeben", "An die **Geschäftsleitung**.", days_ago=3)
    second = _post(roles, letter, "Antwort & <Frage>", "Sie haben *geantwortet*.")
    url = reverse("letters:feed", args=[letter.slug])
    document = _get(client, url)
    root = check_atom(document)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"
    assert entry_ids(root) == [f"urn:uuid:{second.pk}", f"urn:uuid:{first.pk}"]

    parsed = feedparser.parse(document)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == f"Updates: {letter.title}"
    assert parsed.feed.author == "The organizers of Acme workers"
    assert parsed.feed.link == f"http://testserver/letters/{letter.slug}/"
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == [f"http://testserver{url}"]
    newest, oldest = parsed.entries
    assert newest.title == "Antwort & <Frage>"
    assert newest.id == f"urn:uuid:{second.pk}"
    assert newest.link == f"http://testserver/letters/{letter.slug}/#update-{second.pk}"
    assert newest.content[0].type == "text/html"
    assert "<em>geantwortet</em>" in newest.content[0].value
    assert oldest.published_parsed[:3] == first.published_at.utctimetuple()[:3]
    # The author is the campaign's organizers, not the account that posted it.
    assert "Org" not in document.decode().replace("organizers", "")
    assert "org@personal.test" not in document.decode()


def test_ids_stay_when_an_update_is_edited_or_the_letter_moves(roles, make_letter, client):
    letter = make_letter("open")
    update = _post(roles, letter, "Delivered")
    before = check_atom(_get(client, reverse("letters:feed", args=[letter.slug])))
    services.update_edit(actor=roles.organizer, update=update, title="Delivered on Monday")
    services.letter_set_visibility(actor=roles.organizer, letter=letter, visibility="unlisted")
    letter.refresh_from_db()
    after = check_atom(_get(client, reverse("letters:feed", args=[letter.slug])))
    assert after.findtext(f"{ATOM}id") == before.findtext(f"{ATOM}id")
    assert entry_ids(after) == entry_ids(before) == [f"urn:uuid:{update.pk}"]
    entry = after.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Delivered on Monday"
    assert entry.findtext(f"{ATOM}updated") > entry.findtext(f"{ATOM}published")
    # The feed's updated is its newest entry's, so an unchanged feed stays the same.
    assert after.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}updated")
    assert _get(client, reverse("letters:feed", args=[letter.slug])) == _get(
        client, reverse("letters:feed", args=[letter.slug])
    )


def test_an_empty_feed_is_valid_and_dated_by_the_opening(roles, make_letter, client):
    letter = make_letter("closed")
    root = check_atom(_get(client, reverse("letters:feed", args=[letter.slug])))
    assert entry_ids(root) == []
    opened = Letter.objects.get(pk=letter.pk).opened_at
    assert root.findtext(f"{ATOM}updated").startswith(opened.strftime("%Y-%m-%dT%H:%M:%S"))
    assert feedparser.parse(_get(client, reverse("letters:feed", args=[letter.slug]))).bozo == 0


@pytest.mark.parametrize("state", [LetterState.DRAFT, LetterState.REVIEW])
def test_no_feed_for_an_unpublished_letter(state, roles, make_letter, client):
    letter = make_letter(state)
    # Even with an update row in the database (no service makes one).
    Update.objects.create(letter=letter, title="Secret plan", body="")
    response = client.get(reverse("letters:feed", args=[letter.slug]))
    assert response.status_code == 404
    assert b"Secret plan" not in response.content


def test_unlisted_letter_feed_only_at_its_secret_address(roles, make_letter, client):
    letter = make_letter("open", slug="secret", visibility=Visibility.UNLISTED)
    _post(roles, letter, "Only for those with the link")
    assert client.get("/letters/secret/updates.atom").status_code == 404
    response = client.get(reverse("letters:feed", args=[letter.slug]))
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex"
    check_atom(response.content)


@pytest.mark.parametrize(
    "role", ["anonymous", "member", "delegate", "organizer", "other_organizer"]
)
def test_feeds_are_the_same_for_every_role(role, roles, make_letter, client_for):
    letter = make_letter("open")
    _post(roles, letter, "News")
    client = client_for(roles.users()[role])
    for url in (
        reverse("letters:feed", args=[letter.slug]),
        reverse("letters:campaign_feed", args=["acme"]),
    ):
        response = client.get(url)
        assert response.status_code == 200, (role, url)
        assert b"News" in response.content
    assert client.post(reverse("letters:feed", args=[letter.slug])).status_code == 405
    assert client.get("/c/no-such-campaign/updates.atom").status_code == 404
    assert client.get("/letters/no-such-letter/updates.atom").status_code == 404


def test_control_characters_cannot_break_the_xml(roles, make_letter, client):
    """XML 1.0 cannot carry most control characters: they never get in."""
    letter = make_letter("open")
    for body in ("\x0b", "\x1f", "\x7f", "\ufffe"):
        with pytest.raises(services.ValidationError):
            _post(roles, letter, "Title", f"before {body} after")
    _post(roles, letter, "Tabs\u00a0and emoji 🎉", "Code:\n\n\tindented & <b>raw</b>")
    root = check_atom(_get(client, reverse("letters:feed", args=[letter.slug])))
    content = root.find(f"{ATOM}entry/{ATOM}content").text
    assert "&lt;b&gt;raw&lt;/b&gt;" in content  # raw HTML stays text inside the HTML


# --- the campaign's feed --------------------------------------------------------------------


def test_campaign_feed_has_only_public_letters_updates(roles, make_letter, client):
    public = make_letter("open", title="Public letter")
    unlisted = make_letter("open", title="Unlisted letter", visibility=Visibility.UNLISTED)
    delivered = make_letter("delivered", title="Delivered letter")
    made_unlisted = make_letter("closed", title="Later unlisted")
    draft = make_letter(title="Draft letter")
    _post(roles, public, "Public news", days_ago=1)
    _post(roles, unlisted, "Unlisted news")
    _post(roles, delivered, "Delivered news")
    _post(roles, made_unlisted, "News before it went unlisted")
    services.letter_set_visibility(
        actor=roles.organizer, letter=made_unlisted, visibility=Visibility.UNLISTED
    )
    Update.objects.create(letter=draft, title="Draft news")
    other_campaign_letter = make_letter("open", title="Elsewhere")
    Letter.objects.filter(pk=other_campaign_letter.pk).update(campaign=roles.other_campaign)
    _post_other = Update.objects.create(letter=other_campaign_letter, title="Other campaign news")

    document = _get(client, reverse("letters:campaign_feed", args=["acme"]))
    root = check_atom(document)
    titles = [entry.findtext(f"{ATOM}title") for entry in root.findall(f"{ATOM}entry")]
    assert titles == ["Delivered letter: Delivered news", "Public letter: Public news"]
    text = document.decode()
    for leak in (
        "Unlisted",
        unlisted.slug,
        unlisted.unlisted_token,
        made_unlisted.unlisted_token,
        "went unlisted",
        "Draft",
        _post_other.title,
    ):
        assert leak not in text, leak
    parsed = feedparser.parse(document)
    assert parsed.bozo == 0 and parsed.version == "atom10"
    assert parsed.feed.title == "Updates: Acme workers"
    assert parsed.feed.link == "http://testserver/c/acme/"


def test_campaign_feed_of_a_campaign_without_updates(roles, client):
    root = check_atom(_get(client, reverse("letters:campaign_feed", args=["acme"])))
    assert entry_ids(root) == []
    assert root.findtext(f"{ATOM}id").startswith("urn:uuid:")
    other = check_atom(_get(client, reverse("letters:campaign_feed", args=["other"])))
    assert other.findtext(f"{ATOM}id") != root.findtext(f"{ATOM}id")


# --- where the feeds are announced ------------------------------------------------------------


def test_pages_link_their_feeds(roles, make_letter, client):
    letter = make_letter("open")
    page = client.get(reverse("letters:public", args=[letter.slug])).content.decode()
    link = '<link rel="alternate" type="application/atom+xml" href="/letters/{}/updates.atom"'
    assert link.format(letter.slug) in page
    campaign = client.get(reverse("organizing:campaign", args=["acme"])).content.decode()
    assert (
        '<link rel="alternate" type="application/atom+xml" href="/c/acme/updates.atom"' in campaign
    )
