"""Signing pages: the signing page, receipts, the public signature list, and
the organizers' invite-code and attestation pages. Thin: services do the work.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.ratelimit import rate_limit
from letters.services import base_slug
from organizing.decorators import organizer_required
from organizing.models import Role
from organizing.services import membership_for
from signatures import errors
from signatures.api import load_letter
from signatures.errors import Conflict, NotFound
from signatures.forms import AttestationForm, InviteCodesForm, ReportForm, RevokeCodeForm
from signatures.models import Attestation, InviteCode, IssuerKey
from signatures.selectors import (
    FIGURES_CACHE_SECONDS,
    letter_figures,
    letter_timeline,
    public_signature_rows,
    public_signatures_page,
)
from signatures.services import eligibility, moderation
from signatures.services.batches import next_batch_within_minutes


def _letter_or_404(request, slug):
    try:
        return load_letter(request, slug)
    except NotFound:
        raise Http404 from None


def _api_suffix(request, letter) -> str:
    """The unlisted letter's secret, carried on to API calls."""
    if letter.visibility != "public":
        return "?" + urlencode({"key": request.GET.get("key", "")})
    return ""


def _figure_texts() -> dict:
    """The figures' sentences for sign.js, which refreshes them from the
    letter API: the template's own msgids, in their singular and plural
    forms ("%(counter)s" and "%(goal)s" filled in by the script)."""
    count = ("%(counter)s signature of %(goal)s", "%(counter)s signatures of %(goal)s")
    tokens = ("%(counter)s signing token issued", "%(counter)s signing tokens issued")
    return {
        "count_one": ngettext(*count, 1),
        "count_other": ngettext(*count, 2),
        "tokens_one": ngettext(*tokens, 1),
        "tokens_other": ngettext(*tokens, 2),
        # The tree size of the checkpoint the count is read from.
        "log_size": _("(counted at log size %(size)s)"),
        # The figures are cached this long: a second refresh then shows them.
        "refresh_seconds": FIGURES_CACHE_SECONDS + 1,
    }


def _batch_texts() -> dict:
    """What the signing page says of the next batch, for sign.js to repeat
    after signing with the minutes the letter API gives then (the
    template's own msgids; "%(minutes)s" filled in by the script)."""
    within = (
        "Your signature will be counted in the next batch, within about %(minutes)s minute.",
        "Your signature will be counted in the next batch, within about %(minutes)s minutes.",
    )
    return {
        "within_one": ngettext(*within, 1),
        "within_other": ngettext(*within, 2),
        "when_full": _(
            "Your signature will be counted in the next batch, as soon as enough signatures "
            "wait to fill it."
        ),
    }


@never_cache
def sign(request, slug):
    letter = _letter_or_404(request, slug)
    try:
        issuer = letter.issuer_key
    except IssuerKey.DoesNotExist:
        issuer = None
    suffix = _api_suffix(request, letter)
    attestations = Attestation.objects.filter(campaign_id=letter.campaign_id, active=True)
    account_eligible = False
    if request.user.is_authenticated and letter.campaign.allowed_domains:
        try:
            eligibility.account_identities(letter=letter, user=request.user)
        except errors.ProofRejected:
            pass
        else:
            account_eligible = True
    return render(
        request,
        "signatures/sign.html",
        {
            "letter": letter,
            "campaign": letter.campaign,
            "issuer": issuer,
            "figures": letter_figures(letter),
            "attestations": attestations,
            "account_eligible": account_eligible,
            "figure_texts": _figure_texts(),
            "batch_texts": _batch_texts(),
            # None: each signature is counted at once, and the page says nothing.
            "batch_minutes": next_batch_within_minutes(letter) if letter.is_open else None,
            "api": {
                "letter": reverse("signatures:api_letter", args=[slug]) + suffix,
                "email_codes": reverse("signatures:api_email_codes", args=[slug]) + suffix,
                "tokens": reverse("signatures:api_tokens", args=[slug]) + suffix,
                "signatures": reverse("signatures:api_signatures", args=[slug]) + suffix,
                # The receipt page checks the letter's log: an unlisted one
                # answers only with the key of its link.
                "receipt": reverse("signatures:receipt") + suffix,
            },
        },
    )


@never_cache
def receipt(request):
    return render(request, "signatures/receipt.html", {})


def signature_list(request, slug):
    letter = _letter_or_404(request, slug)
    try:
        page, rows, figures = public_signatures_page(letter, request.GET.get("page", "1"))
    except (PageNotAnInteger, EmptyPage):
        return HttpResponseBadRequest(_("This page number does not exist."))
    membership = membership_for(user=request.user, campaign=letter.campaign)
    return render(
        request,
        "signatures/signature_list.html",
        {
            "letter": letter,
            "page": page,
            "rows": rows,
            "figures": figures,
            # Carried on to the report links of an unlisted letter.
            "key_suffix": _api_suffix(request, letter),
            # Organizers get a link to moderate each signature (the page
            # checks their role and second factor again).
            "can_moderate": membership is not None and membership.role == Role.ORGANIZER,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def report(request, slug, signature_id):
    """Report a signature's public text to the organizers: no account, and
    nothing kept of who sent it (rate limited per client in the cache)."""
    letter = _letter_or_404(request, slug)
    try:
        signature = moderation.reportable_signature(letter=letter, signature_id=signature_id)
    except NotFound:
        raise Http404 from None
    row = public_signature_rows(letter, [signature], letter_figures(letter))[0]
    list_url = reverse("signatures:list", args=[slug]) + _api_suffix(request, letter)
    form = ReportForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        rate_limit("report", request.client_key)
        if form.is_valid():
            try:
                moderation.report_create(
                    letter=letter,
                    signature_id=signature.pk,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                )
            except Conflict as exc:
                form.add_error(None, exc.message)
                status = 409
            else:
                messages.success(request, _("Thank you: the organizers will look at it."))
                return redirect(list_url)
        else:
            status = 400
    return render(
        request,
        "signatures/report.html",
        {"letter": letter, "row": row, "form": form, "list_url": list_url},
        status=status,
    )


TIMELINE_CSV_COLUMNS = ["from", "to", "signatures", "tokens_issued", "total"]


@require_GET
def timeline_csv(request, slug):
    """The letter's timeline as a CSV file (the same figures as the API's)."""
    letter = _letter_or_404(request, slug)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{base_slug(letter)}-timeline.csv"'
    response["Cache-Control"] = "no-store"  # as the API's answers
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(TIMELINE_CSV_COLUMNS)
    for period in letter_timeline(letter).periods:
        writer.writerow(
            [
                period.first_day.isoformat(),
                period.last_day.isoformat(),
                period.signatures,
                period.tokens_issued,
                period.total,
            ]
        )
    return response


# --- organizers --------------------------------------------------------------------


def _batches(campaign):
    return (
        InviteCode.objects.filter(campaign=campaign)
        .values("batch")
        .annotate(total=Count("id"), revoked=Count("id", filter=Q(revoked=True)))
        .order_by("batch")
    )


@never_cache
@organizer_required
@require_http_methods(["GET", "POST"])
def invite_codes(request, *, campaign, membership):
    form = InviteCodesForm(request.POST or None)
    new_codes: list[str] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                new_codes = eligibility.invite_codes_create(
                    actor=request.user,
                    campaign=campaign,
                    count=form.cleaned_data["count"],
                    batch=form.cleaned_data["batch"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
            except PermissionDenied:  # pragma: no cover - the decorator checked
                raise
        else:
            status = 400
    return render(
        request,
        "signatures/invite_codes.html",
        {
            "campaign": campaign,
            "membership": membership,
            "form": form if not new_codes else InviteCodesForm(),
            "revoke_form": RevokeCodeForm(),
            "new_codes": new_codes,
            "new_batch": form.cleaned_data.get("batch", "") if new_codes else "",
            "batches": _batches(campaign),
        },
        status=status,
    )


@organizer_required
@require_POST
def invite_code_revoke(request, *, campaign, membership):
    form = RevokeCodeForm(request.POST)
    if form.is_valid() and eligibility.invite_code_revoke(
        actor=request.user, campaign=campaign, code=form.cleaned_data["code"]
    ):
        messages.success(request, _("The invite code was revoked."))
    else:
        messages.error(request, _("No active invite code of this campaign matches what you typed."))
    return redirect("signatures:invite_codes", slug=campaign.slug)


@organizer_required
@require_POST
def invite_batch_revoke(request, *, campaign, membership):
    batch = request.POST.get("batch", "")
    if len(batch) > 80:
        return HttpResponseBadRequest(_("Unknown batch."))
    count = eligibility.invite_batch_revoke(actor=request.user, campaign=campaign, batch=batch)
    messages.success(request, _("%(count)d invite code(s) revoked.") % {"count": count})
    return redirect("signatures:invite_codes", slug=campaign.slug)


@organizer_required
@require_http_methods(["GET", "POST"])
def attestations(request, *, campaign, membership):
    form = AttestationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                eligibility.attestation_create(
                    actor=request.user, campaign=campaign, text=form.cleaned_data["text"]
                )
            except ValidationError as exc:
                form.add_error("text", exc)
                status = 400
            else:
                messages.success(request, _("Statement added. Signers must now affirm it."))
                return redirect("signatures:attestations", slug=campaign.slug)
        else:
            status = 400
    return render(
        request,
        "signatures/attestations.html",
        {
            "campaign": campaign,
            "membership": membership,
            "form": form,
            "attestations": Attestation.objects.filter(campaign=campaign),
        },
        status=status,
    )


@organizer_required
@require_POST
def attestation_toggle(request, attestation_id, *, campaign, membership):
    attestation = get_object_or_404(Attestation, pk=attestation_id, campaign=campaign)
    eligibility.attestation_set_active(
        actor=request.user, attestation=attestation, active=not attestation.active
    )
    return redirect("signatures:attestations", slug=campaign.slug)
