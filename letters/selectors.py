"""Read-only queries for letters."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, Prefetch, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from letters.models import Approval, Comment, Letter, LetterState, Revision, Update, Visibility
from organizing.models import Role

PUBLISHED_STATES = [LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED]


def public_open_letters():
    """Open letters anyone may see listed (never the unlisted ones)."""
    return (
        Letter.objects.filter(state=LetterState.OPEN, visibility=Visibility.PUBLIC)
        .select_related("campaign")
        .order_by("-opened_at")
    )


def campaign_public_letters(campaign):
    """Letters of a campaign that anyone may see listed (never the unlisted ones)."""
    return Letter.objects.filter(
        campaign=campaign, visibility=Visibility.PUBLIC, state__in=PUBLISHED_STATES
    ).order_by("-opened_at")


def published_letter(slug: str) -> Letter | None:
    """The letter at /letters/<slug>/, if it has been opened. Unlisted letters are
    found too: their slug carries the secret token."""
    return (
        Letter.objects.select_related("campaign")
        .filter(slug=slug, state__in=PUBLISHED_STATES)
        .first()
    )


def campaign_letters(campaign):
    """Every letter of a campaign for its organizers, with counts for the list."""
    return (
        Letter.objects.filter(campaign=campaign)
        .select_related("current_revision")
        .annotate(
            open_comments=Count(
                "comments",
                filter=Q(comments__parent__isnull=True, comments__resolved_at__isnull=True),
                distinct=True,
            )
        )
        .order_by("-created_at")
    )


def letter_revisions(letter):
    return Revision.objects.filter(letter=letter).select_related("author").order_by("-number")


def letter_comment_threads(letter):
    """Top-level comments with their replies, oldest first."""
    return (
        Comment.objects.filter(letter=letter, parent__isnull=True)
        .select_related("revision")
        .prefetch_related(Prefetch("replies", queryset=Comment.objects.order_by("created_at")))
        .order_by("resolved_at", "created_at")
    )


def approvals_counting(letter: Letter):
    """Live approvals of the current revision by people who are organizers now."""
    return Approval.objects.filter(
        letter=letter,
        voided_at__isnull=True,
        revision_id=letter.current_revision_id,
        approver__memberships__campaign_id=letter.campaign_id,
        approver__memberships__role=Role.ORGANIZER,
    )


def approval_count(letter: Letter) -> int:
    return approvals_counting(letter).values("approver").distinct().count()


def letter_approvals(letter):
    """Live approvals (any revision) and the voided history, newest first."""
    return Approval.objects.filter(letter=letter).select_related("revision").order_by("-created_at")


# --- updates ------------------------------------------------------------------


def letter_updates(letter):
    """A letter's updates, newest first (what its public page and feed show)."""
    return Update.objects.filter(letter=letter).order_by("-published_at", "id")


def campaign_public_updates(campaign):
    """Updates of the campaign's letters that anyone may see listed: published
    and public letters only (never an unlisted letter's, never a draft's)."""
    return (
        Update.objects.filter(
            letter__campaign=campaign,
            letter__visibility=Visibility.PUBLIC,
            letter__state__in=PUBLISHED_STATES,
        )
        .select_related("letter")
        .order_by("-published_at", "id")
    )


def campaign_updates(campaign):
    """Every update of the campaign, for its organizers and delegates."""
    return (
        Update.objects.filter(letter__campaign=campaign)
        .select_related("letter")
        .order_by("-published_at", "id")
    )


# --- the organizer's overview ---------------------------------------------------


@dataclass
class Waiting:
    """Something on a letter that waits for the viewer, with where to do it."""

    text: str
    url: str


@dataclass
class LetterOverview:
    letter: Letter
    waiting: list[Waiting] = field(default_factory=list)

    @property
    def published(self) -> bool:
        return self.letter.state in PUBLISHED_STATES


def letters_overview(campaign, membership) -> list[LetterOverview]:
    """The campaign's letters as its overview lists them for `membership`,
    each with what waits for the viewer in the drafting (approvals to give,
    a text that others changed since the viewer's last revision, open
    comments). Organizers see every letter; delegates the published ones,
    which are all they act on."""
    letters = list(campaign_letters(campaign))
    if membership.role != Role.ORGANIZER:
        return [LetterOverview(letter) for letter in letters if letter.state in PUBLISHED_STATES]
    my_last = dict(
        Revision.objects.filter(letter__campaign=campaign, author_id=membership.user_id)
        .values("letter")
        .annotate(last=Max("number"))
        .values_list("letter", "last")
    )
    mine_live = set(
        Approval.objects.filter(
            letter__campaign=campaign, approver_id=membership.user_id, voided_at__isnull=True
        ).values_list("letter", "revision")
    )
    rows = []
    for letter in letters:
        row = LetterOverview(letter)
        detail = reverse("letters:manage_detail", args=[campaign.slug, letter.pk])
        current = letter.current_revision
        if letter.state == LetterState.REVIEW:
            if (letter.pk, letter.current_revision_id) not in mine_live:
                row.waiting.append(Waiting(_("Your approval is asked for this text."), detail))
            if approval_count(letter) >= campaign.approval_quorum:
                row.waiting.append(Waiting(_("Approved by the quorum: ready to open."), detail))
        if letter.state == LetterState.DRAFT and current is not None:
            last = my_last.get(letter.pk)
            if (
                last is not None
                and current.number > last
                and current.author_id != membership.user_id
            ):
                diff = reverse("letters:manage_diff", args=[campaign.slug, letter.pk])
                row.waiting.append(
                    Waiting(
                        _(
                            "Someone else saved revision %(current)d after your revision "
                            "%(mine)d: read the changes before you edit, or your save will "
                            "conflict."
                        )
                        % {"current": current.number, "mine": last},
                        f"{diff}?from={last}&to={current.number}",
                    )
                )
        if letter.open_comments:
            row.waiting.append(
                Waiting(
                    ngettext(
                        "%(count)d open comment thread.",
                        "%(count)d open comment threads.",
                        letter.open_comments,
                    )
                    % {"count": letter.open_comments},
                    f"{detail}#comments-heading",
                )
            )
        rows.append(row)
    return rows
