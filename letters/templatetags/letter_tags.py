"""Letters for other apps' pages: organizing's home and campaign pages show
them without importing letters (a lower app never imports a higher one)."""

from django import template

from letters import selectors
from letters.markdown import render_markdown

register = template.Library()

HOME_PAGE_LETTERS = 20


@register.simple_tag
def open_letters():
    """The newest public letters open for signatures (the home page)."""
    return selectors.public_open_letters()[:HOME_PAGE_LETTERS]


@register.simple_tag
def campaign_letters(campaign):
    """The campaign's letters that its public page lists."""
    return selectors.campaign_public_letters(campaign)


@register.filter
def markdown(text):
    """A letter's or an update's Markdown as sanitized HTML (letters.markdown)."""
    return render_markdown(text)


@register.simple_tag
def letters_overview(campaign, membership):
    """The campaign's letters for its overview, with what waits for the viewer."""
    return selectors.letters_overview(campaign, membership)


@register.simple_tag
def recent_updates(campaign, limit=5):
    """The newest updates of every letter of the campaign (its staff's overview)."""
    return selectors.campaign_updates(campaign)[:limit]
