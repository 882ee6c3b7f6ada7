"""Channels for other apps' pages: the campaign overview lists the channels
its viewer may open without organizing importing discussions."""

from django import template

from discussions.selectors import channels_for

register = template.Library()


@register.simple_tag
def campaign_channels(membership):
    """The open (not archived) channels `membership` may join, by name."""
    if membership is None:
        return []
    channels = [c for c in channels_for(membership=membership) if not c.is_archived]
    return sorted(channels, key=lambda channel: channel.name)
