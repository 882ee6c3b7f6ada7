"""Template tags of the petition export (used on the campaign's public page)."""

from django import template

from petitions.models import CampaignKey

register = template.Library()


@register.inclusion_tag("petitions/_campaign_block.html", takes_context=True)
def petition_export_block(context, campaign, membership=None):
    return {
        "campaign": campaign,
        "membership": membership,
        "key": CampaignKey.objects.filter(campaign=campaign, active=True).first(),
    }
