"""Signature figures for letters' pages: the public letter page shows its
count, groups and timeline without letters importing signatures."""

from dataclasses import dataclass
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from signatures.selectors import LetterFigures, TimelinePeriod, letter_figures, letter_timeline

register = template.Library()

# The chart's own coordinates (its viewBox); CSS sizes it on the page.
CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_HEADROOM = 8


@register.simple_tag
def signature_figures(letter) -> LetterFigures:
    """Count, goal and the department and location groups of at least k."""
    return letter_figures(letter)


@register.filter
def period_label(period: TimelinePeriod) -> str:
    """“3 May 2024”, or “3 May to 5 May 2024” for quiet days grouped together."""
    if period.days == 1:
        return date_format(period.first_day, "j M Y")
    return _("%(first)s to %(last)s") % {
        "first": date_format(period.first_day, "j M"),
        "last": date_format(period.last_day, "j M Y"),
    }


@dataclass(frozen=True)
class Bar:
    period: TimelinePeriod
    x: str
    y: str
    width: str
    height: str


def chart_bars(periods: list[TimelinePeriod]) -> list[Bar]:
    """One bar per period, in the chart's viewBox: as wide as its days, as high
    as its signatures per day (a period of three quiet days is a wide, low bar,
    not a tall one that looks like a single day)."""
    if not periods:
        return []
    total_days = sum(period.days for period in periods)
    slot = CHART_WIDTH / total_days
    gap = slot * 0.15 if slot >= 4 else 0
    busiest = max(period.signatures / period.days for period in periods) or 1
    bars, day = [], 0
    for period in periods:
        height = (CHART_HEIGHT - CHART_HEADROOM) * (period.signatures / period.days) / busiest
        bars.append(
            Bar(
                period=period,
                x=f"{day * slot + gap / 2:.2f}",
                y=f"{CHART_HEIGHT - height:.2f}",
                width=f"{period.days * slot - gap:.2f}",
                height=f"{height:.2f}",
            )
        )
        day += period.days
    return bars


@register.inclusion_tag("signatures/_timeline.html")
def signature_timeline(letter):
    """Signatures per day: an SVG bar chart drawn here (no script), the same
    figures as a table for screen readers, and links to the open data."""
    timeline = letter_timeline(letter)
    # An unlisted letter's API and files need its secret, which its page's
    # address already carries.
    suffix = (
        "" if letter.visibility == "public" else "?" + urlencode({"key": letter.unlisted_token})
    )
    return {
        "letter": letter,
        "timeline": timeline,
        "bars": chart_bars(timeline.periods),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "json_url": reverse("signatures:api_timeline", args=[letter.slug]) + suffix,
        "csv_url": reverse("signatures:timeline_csv", args=[letter.slug]) + suffix,
    }
