"""Pages of the petition export. Thin: parse input, call a service, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from core.ratelimit import RateLimited, rate_limit
from letters.forms import UpdateForm
from letters.models import Letter, LetterState
from organizing.decorators import organizer_required, staff_of_campaign_required
from organizing.models import Campaign, Role
from petitions import forms, openpgp, selectors, services
from petitions.models import CampaignKey, DelegateKey, Delivery, Export, ExportStatus


def _export(campaign, export_id) -> Export:
    return get_object_or_404(
        Export.objects.select_related("letter__campaign", "created_by"),
        pk=export_id,
        letter__campaign=campaign,
    )


def _errors(exc: ValidationError) -> list[str]:
    return list(exc.messages)


@staff_of_campaign_required
@require_http_methods(["GET", "POST"])
def export_list(request, *, campaign, membership):
    letters = list(
        Letter.objects.filter(
            campaign=campaign,
            state__in=[LetterState.OPEN, LetterState.CLOSED, LetterState.DELIVERED],
        ).prefetch_related("exports")
    )
    form = forms.ExportForm(request.POST or None)
    status = 200
    errors: list[str] = []
    if request.method == "POST":
        letter = next((x for x in letters if x.slug == request.POST.get("letter")), None)
        if letter is None:
            errors.append(_("Choose a letter of this campaign."))
            status = 400
        elif not form.is_valid():
            status = 400
        else:
            try:
                export, created = services.export_start(
                    actor=request.user,
                    letter=letter,
                    paper=form.cleaned_data["paper"],
                    encrypt=form.cleaned_data["encrypt"],
                )
            except ValidationError as exc:
                errors.extend(_errors(exc))
                status = 400
            else:
                if not created:
                    messages.info(
                        request,
                        _("Nothing changed since this export: here it is again."),
                    )
                return redirect("petitions:detail", campaign.slug, export.pk)
    return render(
        request,
        "petitions/list.html",
        {
            "campaign": campaign,
            "membership": membership,
            "letters": letters,
            "form": form,
            "errors": errors,
            "key": services.campaign_key(campaign),
            "exportable": (LetterState.OPEN, LetterState.CLOSED),
        },
        status=status,
    )


@staff_of_campaign_required
@require_http_methods(["GET", "POST"])
def keys(request, *, campaign, membership):
    import_form = forms.KeyImportForm()
    public_form = forms.PublicKeyForm()
    status = 200
    errors: list[str] = []
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "generate":
                key = services.campaign_key_generate(actor=request.user, campaign=campaign)
                messages.success(request, _("New campaign key %(fpr)s.") % {"fpr": key.fingerprint})
                return redirect("petitions:keys", campaign.slug)
            if action == "import":
                import_form = forms.KeyImportForm(request.POST)
                if import_form.is_valid():
                    key = services.campaign_key_import(
                        actor=request.user,
                        campaign=campaign,
                        armored=import_form.cleaned_data["armored"],
                        passphrase=import_form.cleaned_data["passphrase"],
                    )
                    messages.success(
                        request, _("Imported campaign key %(fpr)s.") % {"fpr": key.fingerprint}
                    )
                    return redirect("petitions:keys", campaign.slug)
                status = 400
            elif action == "delegate_key":
                public_form = forms.PublicKeyForm(request.POST)
                if public_form.is_valid():
                    services.delegate_key_set(
                        actor=request.user,
                        campaign=campaign,
                        armored=public_form.cleaned_data["armored"],
                    )
                    messages.success(request, _("Your public key is saved."))
                    return redirect("petitions:keys", campaign.slug)
                status = 400
            elif action == "delegate_key_remove":
                services.delegate_key_remove(actor=request.user, campaign=campaign)
                messages.success(request, _("Your public key is removed."))
                return redirect("petitions:keys", campaign.slug)
            else:
                errors.append(_("Unknown action."))
                status = 400
        except ValidationError as exc:
            errors.extend(_errors(exc))
            status = 400
        except openpgp.OpenPGPError:
            errors.append(_("GnuPG failed; the operator should check the server log."))
            status = 503
        except PermissionDenied:
            return render(request, "organizing/forbidden.html", {"campaign": campaign}, status=403)
    return render(
        request,
        "petitions/keys.html",
        {
            "campaign": campaign,
            "membership": membership,
            "key": services.campaign_key(campaign),
            "old_keys": CampaignKey.objects.filter(campaign=campaign, active=False),
            "my_key": DelegateKey.objects.filter(membership=membership).first(),
            "recipients": services.recipient_keys(campaign),
            "import_form": import_form,
            "public_form": public_form,
            "errors": errors,
            "is_organizer": membership.role == Role.ORGANIZER,
        },
        status=status,
    )


def _next_step(export, delivery) -> str:
    """What the export page asks the delegate or organizer to do next."""
    letter = export.letter
    if delivery is not None:
        return "respond"  # this export is the delivered petition
    if letter.state == LetterState.DELIVERED:
        return "superseded"  # delivered with another export
    if export.status in (ExportStatus.FAILED, ExportStatus.CANCELLED):
        return "export_again"
    if export.status != ExportStatus.DONE:
        return "wait"
    if letter.state == LetterState.OPEN:
        return "close"
    if services.export_is_stale(export):
        return "export_again"
    return "deliver"


def _detail_context(request, campaign, membership, export, **extra):
    delivery = Delivery.objects.filter(export=export).select_related("export").first()
    next_step = _next_step(export, delivery)
    ready_update = None
    if delivery is not None and not selectors.update_posted_since(delivery):
        ready_update = UpdateForm(initial=selectors.delivery_update_draft(delivery))
    files = []
    if export.status == ExportStatus.DONE:
        files = [
            (name, services.export_file_name(export, name))
            for name in services.FILES
            if (export.directory / name).is_file()
        ]
    return {
        "campaign": campaign,
        "membership": membership,
        "export": export,
        "letter": export.letter,
        "files": files,
        "stall_notice": services.export_stall_notice(export),
        "delivery": delivery,
        "ready_update": ready_update,
        "next_step": next_step,
        "can_deliver": next_step == "deliver",
        "is_organizer": membership.role == Role.ORGANIZER,
        "delivered_export": selectors.delivered_export(export.letter)
        if next_step == "superseded"
        else None,
        "delivery_form": extra.pop("delivery_form", None) or forms.DeliveryForm(),
        "response_form": extra.pop("response_form", None) or forms.ResponseForm(),
        **extra,
    }


@staff_of_campaign_required
def export_detail(request, export_id, *, campaign, membership):
    export = _export(campaign, export_id)
    return render(
        request,
        "petitions/detail.html",
        _detail_context(request, campaign, membership, export),
    )


@staff_of_campaign_required
def export_status(request, export_id, *, campaign, membership):
    export = _export(campaign, export_id)
    return JsonResponse(
        {
            "status": export.status,
            "status_display": export.get_status_display(),
            "progress": export.progress,
            "finished": export.is_finished,
            "error": export.error,
            "stall_notice": services.export_stall_notice(export),
        },
        headers={"Cache-Control": "no-store"},
    )


@staff_of_campaign_required
@require_POST
def export_cancel(request, export_id, *, campaign, membership):
    export = _export(campaign, export_id)
    try:
        services.export_cancel(actor=request.user, export=export)
    except ValidationError as exc:
        context = _detail_context(request, campaign, membership, export, errors=_errors(exc))
        return render(request, "petitions/detail.html", context, status=409)
    messages.success(request, _("The export was cancelled."))
    return redirect("petitions:detail", campaign.slug, export.pk)


@staff_of_campaign_required
@require_POST
def export_deliver(request, export_id, *, campaign, membership):
    export = _export(campaign, export_id)
    form = forms.DeliveryForm(request.POST)
    errors: list[str] = []
    if form.is_valid():
        try:
            services.delivery_record(actor=request.user, export=export, **form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, field_errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, field_errors)
            else:
                errors.extend(_errors(exc))
        else:
            messages.success(
                request,
                _(
                    "The delivery is recorded; the letter is delivered. "
                    "Tell the signers with the ready update below."
                ),
            )
            detail = reverse("petitions:detail", args=[campaign.slug, export.pk])
            return redirect(f"{detail}#ready-update")
    context = _detail_context(
        request, campaign, membership, export, delivery_form=form, errors=errors
    )
    return render(request, "petitions/detail.html", context, status=400)


@staff_of_campaign_required
@require_POST
def delivery_response(request, export_id, *, campaign, membership):
    export = _export(campaign, export_id)
    delivery = get_object_or_404(Delivery, export=export)
    form = forms.ResponseForm(request.POST)
    if form.is_valid():
        try:
            services.delivery_respond(actor=request.user, delivery=delivery, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The response is recorded."))
            return redirect("petitions:detail", campaign.slug, export.pk)
    context = _detail_context(request, campaign, membership, export, response_form=form)
    return render(request, "petitions/detail.html", context, status=400)


def _file_response(export: Export, name: str) -> FileResponse:
    try:
        path = services.export_file(export, name)
    except FileNotFoundError:
        raise Http404
    content_type = services.FILES[name][0]
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=services.export_file_name(export, name),
        content_type=content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@staff_of_campaign_required
def export_download(request, export_id, name, *, campaign, membership):
    return _file_response(_export(campaign, export_id), name)


@organizer_required
@require_http_methods(["GET", "POST"])
def invite_sheet(request, *, campaign, membership):
    letters = list(
        Letter.objects.filter(campaign=campaign).exclude(
            state__in=[LetterState.DRAFT, LetterState.CLOSED, LetterState.DELIVERED]
        )
    )
    form = forms.InviteSheetForm(request.POST or None, letters=letters)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            letter = next(x for x in letters if x.slug == form.cleaned_data["letter"])
            try:
                pdf = services.invite_sheet(
                    actor=request.user,
                    campaign=campaign,
                    letter=letter,
                    count=form.cleaned_data["count"],
                    batch=form.cleaned_data["batch"],
                    paper=form.cleaned_data["paper"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                response = HttpResponse(pdf, content_type="application/pdf")
                response["Content-Disposition"] = (
                    f'attachment; filename="invite-codes-{letter.slug}.pdf"'
                )
                response["Cache-Control"] = "private, no-store"
                return response
        status = 400
    return render(
        request,
        "petitions/invite_sheet.html",
        {"campaign": campaign, "membership": membership, "form": form, "letters": letters},
        status=status,
    )


# --- public ------------------------------------------------------------------


def public_key(request, slug):
    campaign = get_object_or_404(Campaign, slug=slug)
    fingerprint = request.GET.get("fingerprint", "")
    keys = CampaignKey.objects.filter(campaign=campaign)
    key = (
        keys.filter(fingerprint=openpgp.normalize_fingerprint(fingerprint)).first()
        if fingerprint
        else keys.filter(active=True).first()
    )
    if key is None:
        raise Http404
    response = HttpResponse(key.public_key, content_type="application/pgp-keys; charset=ascii")
    filename = services.public_key_file_name(campaign, key.fingerprint)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
def verify(request, slug):
    campaign = get_object_or_404(Campaign, slug=slug)
    form = forms.VerifyForm(request.POST or None, request.FILES or None)
    result = None
    status = 200
    if request.method == "POST":
        if _rate_limited(request, "verify", form):
            status = 429
        elif form.is_valid():
            try:
                upload = form.cleaned_data.get("pdf")
                if upload:
                    sha256, data = services.hash_upload(upload)
                else:
                    sha256, data = form.cleaned_data["sha256"].strip().lower(), None
                result = services.verify_pdf(campaign=campaign, sha256=sha256, pdf=data)
                result.sha256 = sha256
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
        else:
            status = 400
    return render(
        request,
        "petitions/verify.html",
        {
            "campaign": campaign,
            "form": form,
            "result": result,
            "key": services.campaign_key(campaign),
        },
        status=status,
    )


def _rate_limited(request, scope: str, form) -> bool:
    """Count this public POST per client key; when over the limit, put the
    message on the form and say so."""
    try:
        rate_limit(scope, request.client_key)
    except RateLimited as exc:
        form.add_error(None, exc.message)
        return True
    return False


def _public_export(campaign, export_id) -> Export:
    return get_object_or_404(
        Export.objects.select_related("letter__campaign"),
        pk=export_id,
        letter__campaign=campaign,
        status=ExportStatus.DONE,
    )


@require_http_methods(["GET", "POST"])
def verify_export(request, slug, export_id):
    campaign = get_object_or_404(Campaign, slug=slug)
    export = _public_export(campaign, export_id)
    form = forms.ReceiptForm(request.POST or None)
    included = None
    status = 200
    if request.method == "POST":
        if _rate_limited(request, "receipt", form):
            status = 429
        elif form.is_valid():
            try:
                included = services.receipt_included(
                    export=export, receipt=form.cleaned_data["receipt"]
                )
            except ValidationError as exc:
                form.add_error("receipt", exc)
                status = 400
        else:
            status = 400
    return render(
        request,
        "petitions/verify_export.html",
        {
            "campaign": campaign,
            "export": export,
            "letter": export.letter,
            "standing": selectors.export_standing(export),
            "form": form,
            "included": included,
            "public_files": [
                (name, services.export_file_name(export, name))
                for name, (_type, public) in services.FILES.items()
                if public and (export.directory / name).is_file()
            ],
            "file_names": services.export_file_names(
                export, fingerprint=export.openpgp_fingerprint
            ),
            "log_audit_command": services.log_audit_command(
                export, verifier_key=export.log_verifier_key
            )
            if export.log_verifier_key
            else "",
        },
        status=status,
    )


def public_download(request, slug, export_id, name):
    campaign = get_object_or_404(Campaign, slug=slug)
    export = _public_export(campaign, export_id)
    if name not in services.FILES or not services.FILES[name][1]:
        raise Http404
    return _file_response(export, name)
