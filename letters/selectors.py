"""Read-only queries for letters."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q

from letters.models import Approval, Comment, Letter, LetterState, Revision, Visibility

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


def letter_approvals(letter):
    """Live approvals (any revision) and the voided history, newest first."""
    return Approval.objects.filter(letter=letter).select_related("revision").order_by("-created_at")
