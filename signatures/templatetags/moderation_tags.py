"""What waits for the organizers' moderation, for the campaign overview
(organizing's templates load this; organizing's code does not import it).

    {% load moderation_tags %}
    {% moderation_waiting campaign %}             a link to the moderation page
                                                  saying what waits, or nothing
    {% moderation_waiting letter %}               the same for one letter
    {% moderation_waiting campaign as waiting %}  the figures: waiting.reported,
                                                  waiting.held, waiting.count,
                                                  waiting.url, waiting.text;
                                                  false when nothing waits;
                                                  {{ waiting }} is the link

Moderation is the organizers': when the template's context has a
`membership` (the manage pages' decorators pass it) whose role is not
organizer, nothing waits.
"""

from __future__ import annotations

from dataclasses import asdict

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from letters.models import Letter
from organizing.models import Role
from signatures.moderation_selectors import ModerationWaiting, moderation_waiting

register = template.Library()


class WaitingLink(ModerationWaiting):
    """ModerationWaiting that renders as its link where it is output, by the
    tag itself or as a variable ({{ waiting }})."""

    def __html__(self) -> str:
        if not self:
            return ""
        return render_to_string("signatures/_moderation_waiting.html", {"waiting": self}).strip()

    def __str__(self) -> str:
        return mark_safe(self.__html__())  # noqa: S308 - a template's autoescaped output


@register.simple_tag(name="moderation_waiting", takes_context=True)
def moderation_waiting_tag(context, target) -> WaitingLink:
    membership = context.get("membership")
    if isinstance(target, Letter):
        campaign, letter = target.campaign, target
    else:
        campaign, letter = target, None
    if membership is not None and getattr(membership, "role", None) != Role.ORGANIZER:
        return WaitingLink(reported=0, held=0, url="")
    return WaitingLink(**asdict(moderation_waiting(campaign, letter=letter)))
