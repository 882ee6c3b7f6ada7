"""Atom feeds (RFC 4287) of letters' updates, so people can follow a letter
or a campaign without giving anything: no account, no address, no cookie.

Built with Django's own Atom writer. Ids never change: an entry's is the
update's random id (`urn:uuid:...`), a feed's a name-based UUID of the
letter's or campaign's primary key, so a letter that gets a new address
(made unlisted, or public again) keeps its feed's and its entries' ids.
The author is the campaign's organizers, never the person who typed it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.urls import reverse
from django.utils import feedgenerator
from django.utils.translation import gettext as _

from letters.markdown import render_markdown

CAMPAIGN_FEED_ENTRIES = 50


class UpdatesFeed(feedgenerator.Atom1Feed):
    """Atom 1.0 with each entry's text as `content` (type html), and a feed
    `updated` that does not move when nothing changed."""

    def __init__(self, *args, quiet_since, **kwargs):
        super().__init__(*args, **kwargs)
        self.quiet_since = quiet_since

    def latest_post_date(self):
        dates = [item["updateddate"] for item in self.items]
        return max(dates) if dates else self.quiet_since

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        handler.addQuickElement("content", item["content_html"], {"type": "html"})


def _feed_id(kind: str, pk: int) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{settings.SITE_URL}/{kind}/{pk}"))


def _add_entries(feed: UpdatesFeed, updates, *, absolute, title_of) -> None:
    for update in updates:
        letter_url = reverse("letters:public", args=[update.letter.slug])
        feed.add_item(
            title=title_of(update),
            link=absolute(f"{letter_url}#update-{update.pk}"),
            description=None,
            unique_id=f"urn:uuid:{update.pk}",
            pubdate=update.published_at,
            updateddate=update.updated_at,
            content_html=str(render_markdown(update.body)),
        )


def letter_feed(letter, updates, *, absolute) -> UpdatesFeed:
    """The feed of one letter's updates. `absolute(path)` makes a full URL."""
    campaign = letter.campaign
    feed = UpdatesFeed(
        title=_("Updates: %(title)s") % {"title": letter.title},
        link=absolute(reverse("letters:public", args=[letter.slug])),
        description=letter.summary,
        subtitle=letter.summary or None,
        language=letter.language,
        author_name=_("The organizers of %(campaign)s") % {"campaign": campaign.name},
        feed_url=absolute(reverse("letters:feed", args=[letter.slug])),
        feed_guid=_feed_id("letters", letter.pk),
        quiet_since=letter.opened_at or letter.created_at,
    )
    _add_entries(feed, updates, absolute=absolute, title_of=lambda update: update.title)
    return feed


def campaign_feed(campaign, updates, *, absolute) -> UpdatesFeed:
    """The feed of the updates of a campaign's public letters."""
    feed = UpdatesFeed(
        title=_("Updates: %(campaign)s") % {"campaign": campaign.name},
        link=absolute(reverse("organizing:campaign", args=[campaign.slug])),
        description="",
        language=settings.LANGUAGE_CODE,
        author_name=_("The organizers of %(campaign)s") % {"campaign": campaign.name},
        feed_url=absolute(reverse("letters:campaign_feed", args=[campaign.slug])),
        feed_guid=_feed_id("campaigns", campaign.pk),
        quiet_since=campaign.created_at,
    )
    _add_entries(
        feed,
        updates[:CAMPAIGN_FEED_ENTRIES],
        absolute=absolute,
        title_of=lambda update: f"{update.letter.title}: {update.title}",
    )
    return feed
