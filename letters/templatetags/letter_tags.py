"""Letters for other apps' pages: organizing's home and campaign pages show
them without importing letters (a lower app never imports a higher one)."""

from django import template

from letters import selectors

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
