"""Template tags of the petition export: the campaign's public page shows its
verification block, and the campaign overview what exports wait for."""

from django import template

from petitions import selectors
from petitions.models import CampaignKey

register = template.Library()


@register.inclusion_tag("petitions/_campaign_block.html", takes_context=True)
def petition_export_block(context, campaign, membership=None):
    return {
        "campaign": campaign,
        "membership": membership,
        "key": CampaignKey.objects.filter(campaign=campaign, active=True).first(),
    }


@register.simple_tag
def petition_waiting(letter):
    """What the letter's export and delivery wait for (letters.selectors.Waiting)."""
    return selectors.waiting_on_letter(letter)
