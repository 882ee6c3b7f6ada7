"""Letter pages."""

from django.http import Http404
from django.shortcuts import get_object_or_404, render

from letters.models import Letter, LetterState, Visibility


def public(request, slug):
    letter = get_object_or_404(Letter.objects.select_related("campaign"), slug=slug)
    if letter.state in (LetterState.DRAFT, LetterState.REVIEW) or (
        letter.visibility != Visibility.PUBLIC
    ):
        raise Http404
    return render(request, "letters/public.html", {"letter": letter})
