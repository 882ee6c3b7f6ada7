"""Read-only queries for letters."""

from letters.models import Letter, LetterState, Visibility


def public_open_letters():
    return (
        Letter.objects.filter(state=LetterState.OPEN, visibility=Visibility.PUBLIC)
        .select_related("campaign")
        .order_by("-opened_at")
    )


def campaign_public_letters(campaign):
    """Letters of a campaign that anyone may see listed."""
    return Letter.objects.filter(
        campaign=campaign,
        visibility=Visibility.PUBLIC,
        state__in=[LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED],
    ).order_by("-opened_at")
