"""The organizers' moderation pages under /c/<slug>/manage/moderation/:
the queue (reports, text held for review, hidden text, a search), one
signature's page (hide, show again, dismiss its reports) and the hold list.
Thin: the services in signatures.services.moderation check the role again
and write the audit log."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from letters.models import Letter, LetterState
from organizing.decorators import organizer_required
from signatures import moderation_selectors as selectors
from signatures.errors import BadRequest
from signatures.forms import HideForm, HoldListForm
from signatures.models import MODERATED_FIELDS
from signatures.services import moderation
from signatures.services.common import clean_text

SEARCH_MAX = 80


def _letter_filter(request, campaign) -> Letter | None:
    """The ?letter=<id> filter (the overview links to one letter's queue);
    Http404 for a letter of another campaign, BadRequest for junk."""
    raw = request.GET.get("letter", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(_("Unknown letter."))
    letter = Letter.objects.filter(pk=int(raw), campaign=campaign).first()
    if letter is None:
        raise Http404
    return letter


def _queue_url(campaign, letter=None) -> str:
    url = reverse("signatures:moderation", args=[campaign.slug])
    return url + (f"?letter={letter.pk}" if letter is not None else "")


@never_cache
@organizer_required
@require_safe
def queue(request, *, campaign, membership):
    try:
        letter = _letter_filter(request, campaign)
        query = clean_text(request.GET.get("q", ""), field=_("Search"), max_len=SEARCH_MAX)
    except BadRequest as exc:
        return HttpResponseBadRequest(exc.message)
    return render(
        request,
        "signatures/moderation.html",
        {
            "campaign": campaign,
            "membership": membership,
            "letter": letter,
            # Letters that have signatures: drafts and letters in review have none.
            "letters": Letter.objects.filter(campaign=campaign).exclude(
                state__in=[LetterState.DRAFT, LetterState.REVIEW]
            ),
            "query": query,
            "found": selectors.signatures_search(campaign, query, letter=letter) if query else None,
            "reported": selectors.reported_signatures(campaign, letter=letter),
            "held": selectors.held_signatures(campaign, letter=letter),
            "hidden": selectors.hidden_signatures(campaign, letter=letter),
            "hold_terms": selectors.hold_terms(campaign),
        },
    )


def _moderated_or_404(campaign, signature_id: uuid.UUID):
    item = selectors.moderated_signature(campaign, signature_id)
    if item is None:
        raise Http404
    return item


@never_cache
@organizer_required
@require_http_methods(["GET", "POST"])
def signature(request, signature_id, *, campaign, membership):
    item = _moderated_or_404(campaign, signature_id)
    moderation_row = item.moderation
    initial = {}
    if moderation_row is not None and not moderation_row.held:
        initial = {
            "hide": list(moderation_row.hidden_fields),
            "reason": moderation_row.reason,
            "note": moderation_row.note,
        }
    form = HideForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        hide_all="all" in request.POST,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                moderation.signature_hide(
                    actor=request.user,
                    signature=item.signature,
                    fields=form.cleaned_data["hide"],
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                )
            except BadRequest as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                messages.success(
                    request,
                    _(
                        "Hidden from the public list, the API and exports. The signature "
                        "still counts; its signer can read why on their receipt page."
                    ),
                )
                return redirect(_queue_url(campaign))
        else:
            status = 400
    return render(
        request,
        "signatures/moderation_signature.html",
        {
            "campaign": campaign,
            "membership": membership,
            "item": item,
            "form": form,
            "fields": MODERATED_FIELDS,
        },
        status=status,
    )


@organizer_required
@require_POST
def show(request, signature_id, *, campaign, membership):
    item = _moderated_or_404(campaign, signature_id)
    was_held = item.held
    if moderation.signature_show(actor=request.user, signature=item.signature):
        if was_held:
            messages.success(request, _("Approved: its text is shown on the public list."))
        else:
            messages.success(request, _("Its text is shown again on the public list."))
    else:
        messages.info(request, _("Nothing of this signature was hidden."))
    return redirect(_queue_url(campaign))


@organizer_required
@require_POST
def dismiss(request, signature_id, *, campaign, membership):
    item = _moderated_or_404(campaign, signature_id)
    count = moderation.reports_dismiss(actor=request.user, signature=item.signature)
    if count:
        messages.success(request, _("Reports dismissed: the text stays as it is."))
    else:
        messages.info(request, _("No report of this signature was waiting."))
    return redirect(_queue_url(campaign))


@never_cache
@organizer_required
@require_http_methods(["GET", "POST"])
def hold_list(request, *, campaign, membership):
    terms = selectors.hold_terms(campaign)
    form = HoldListForm(
        request.POST if request.method == "POST" else None, initial={"terms": "\n".join(terms)}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = moderation.hold_list_update(
                    actor=request.user, campaign=campaign, terms=form.cleaned_data["terms"]
                )
            except BadRequest as exc:
                form.add_error("terms", exc.message)
                status = 400
            else:
                messages.success(
                    request,
                    _("Saved: %(n)d names and words. They apply to signatures counted from now on.")
                    % {"n": len(saved.terms)},
                )
                return redirect("signatures:moderation_hold_list", slug=campaign.slug)
        else:
            status = 400
    return render(
        request,
        "signatures/moderation_hold_list.html",
        {"campaign": campaign, "membership": membership, "form": form, "terms": terms},
        status=status,
    )
