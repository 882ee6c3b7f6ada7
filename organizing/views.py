"""Campaign pages. Thin: they parse input, call a service, render."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from organizing import services
from organizing.decorators import (
    member_required,
    organizer_required,
    staff_of_campaign_required,
)
from organizing.forms import CampaignForm, InvitationForm, JoinForm, RoleForm
from organizing.models import Campaign, Invitation, Membership, Role
from organizing.pending_invitation import (
    invitation_forget,
    invitation_remember,
    pending_invitation,
)


def home(request):
    return render(request, "organizing/home.html")


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@login_required
def dashboard(request):
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("campaign")
        .order_by("campaign__name")
    )
    pending = pending_invitation(request)
    return render(
        request,
        "organizing/dashboard.html",
        {
            "memberships": memberships,
            "has_mfa": services.account_has_mfa(request.user),
            "mfa_confirmed": services.user_passed_mfa(request.user),
            "pending_invitation": pending[0] if pending else None,
            "pending_join_url": pending[1] if pending else "",
        },
    )


@login_required
def campaign_create(request):
    if not services.user_passed_mfa(request.user):
        return render(
            request,
            "organizing/mfa_required.html",
            {"needs_setup": not services.account_has_mfa(request.user)},
            status=403,
        )
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        confirmed = data.pop("confirm_public_domains", False)
        try:
            campaign = services.campaign_create(
                creator=request.user, allow_public_mail_domains=confirmed, **data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Campaign created. You are its first organizer."))
            return redirect("organizing:manage", slug=campaign.slug)
    return render(request, "organizing/campaign_form.html", {"form": form}, status=_status(form))


def campaign_page(request, slug):
    """The campaign's public page."""
    campaign = get_object_or_404(Campaign, slug=slug)
    membership = services.membership_for(user=request.user, campaign=campaign)
    return _public_page(request, campaign=campaign, membership=membership)


def _public_page(request, *, campaign, membership, status=200):
    return render(
        request,
        "organizing/campaign_public.html",
        {
            "campaign": campaign,
            "membership": membership,
        },
        status=status,
    )


@staff_of_campaign_required
def campaign_manage(request, *, campaign, membership):
    """The campaign overview: organizers' and delegates' start of the day
    (what delegates see is limited to their part, in the template)."""
    return _manage_page(request, campaign=campaign, membership=membership)


def _manage_page(request, *, campaign, membership, invitation_form=None, status=200):
    """The organizer dashboard; re-rendered with a 4xx status (and the form's
    errors or a message) when an action on it was refused."""
    organizer = membership.role == Role.ORGANIZER
    memberships = campaign.memberships.select_related("user").order_by("role", "display_name")
    invitations = campaign.invitations.select_related("created_by")[:50] if organizer else []
    audit = campaign.audit_entries.all()[:20] if organizer else []
    return render(
        request,
        "organizing/campaign_manage.html",
        {
            "campaign": campaign,
            "membership": membership,
            "memberships": memberships,
            "invitations": invitations,
            "audit": audit,
            "invitation_form": invitation_form or InvitationForm(),
            "role_choices": Role.choices,
        },
        status=status,
    )


@organizer_required
def campaign_settings(request, *, campaign, membership):
    form = CampaignForm(request.POST or None, instance=Campaign.objects.get(pk=campaign.pk))
    if request.method == "POST" and form.is_valid():
        confirmed = form.cleaned_data.pop("confirm_public_domains", False)
        fields = {name: value for name, value in form.cleaned_data.items() if name != "slug"}
        try:
            services.campaign_update(
                actor=request.user,
                campaign=campaign,
                allow_public_mail_domains=confirmed,
                **fields,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Campaign settings saved."))
            return redirect("organizing:manage", slug=campaign.slug)
    return render(
        request,
        "organizing/campaign_form.html",
        {"form": form, "campaign": campaign},
        status=_status(form),
    )


@organizer_required
def audit_log(request, *, campaign, membership):
    page = Paginator(campaign.audit_entries.all(), 50).get_page(request.GET.get("page"))
    return render(request, "organizing/audit_log.html", {"campaign": campaign, "page": page})


@require_POST
@organizer_required
def invitation_create(request, *, campaign, membership):
    form = InvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The invitation was not created: please check the values."))
        return _manage_page(
            request, campaign=campaign, membership=membership, invitation_form=form, status=400
        )
    data = form.cleaned_data
    created = services.invitation_create(
        actor=request.user,
        campaign=campaign,
        role=data["role"],
        max_uses=data["max_uses"],
        valid_for=timedelta(days=data["valid_days"]),
        label=data["label"],
    )
    link = request.build_absolute_uri(reverse("organizing:join", args=[created.token]))
    # The token exists only in this response; it is not stored.
    return render(
        request,
        "organizing/invitation_created.html",
        {"campaign": campaign, "invitation": created.invitation, "link": link},
    )


@require_POST
@organizer_required
def invitation_revoke(request, invitation_id, *, campaign, membership):
    invitation = get_object_or_404(Invitation, pk=invitation_id, campaign=campaign)
    services.invitation_revoke(actor=request.user, invitation=invitation)
    messages.success(request, _("Invitation revoked."))
    return redirect("organizing:manage", slug=campaign.slug)


@require_POST
@organizer_required
def membership_remove(request, membership_id, *, campaign, membership):
    target = get_object_or_404(Membership, pk=membership_id, campaign=campaign)
    try:
        services.membership_remove(actor=request.user, membership=target)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _manage_page(request, campaign=campaign, membership=membership, status=409)
    messages.success(request, _("%(name)s was removed.") % {"name": target.display_name})
    return redirect("organizing:manage", slug=campaign.slug)


@require_POST
@organizer_required
def membership_role(request, membership_id, *, campaign, membership):
    target = get_object_or_404(Membership, pk=membership_id, campaign=campaign)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown role."))
        return _manage_page(request, campaign=campaign, membership=membership, status=400)
    try:
        services.membership_change_role(
            actor=request.user, membership=target, role=form.cleaned_data["role"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _manage_page(request, campaign=campaign, membership=membership, status=409)
    messages.success(request, _("Role changed."))
    return redirect("organizing:manage", slug=campaign.slug)


@require_POST
@member_required
def membership_rename(request, *, campaign, membership):
    try:
        services.membership_rename(
            membership=membership, display_name=request.POST.get("display_name", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        membership.refresh_from_db()
        return _public_page(request, campaign=campaign, membership=membership, status=400)
    messages.success(request, _("Display name changed."))
    return redirect("organizing:campaign", slug=campaign.slug)


def join(request, token):
    """Accept an invitation link. Anyone may look; joining needs an account."""
    invitation = services.invitation_for_token(token)
    if invitation is None:
        return render(request, "organizing/join_invalid.html", status=404)
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    existing = services.membership_for(user=request.user, campaign=invitation.campaign)
    form = JoinForm(request.POST or None)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if form.is_valid():
            try:
                services.invitation_accept(
                    user=request.user,
                    token=token,
                    display_name=form.cleaned_data["display_name"],
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return render(
                    request,
                    "organizing/join.html",
                    {"invitation": invitation, "form": form, "existing": existing},
                    status=410,
                )
            messages.success(
                request, _("Welcome to %(campaign)s.") % {"campaign": invitation.campaign.name}
            )
            response = redirect("organizing:campaign", slug=invitation.campaign.slug)
            invitation_forget(request, response)
            return response
    status = 200 if invitation.is_usable or existing else 410
    if status == 200 and form.is_bound and not form.is_valid():
        status = 400
    response = render(
        request,
        "organizing/join.html",
        {"invitation": invitation, "form": form, "existing": existing},
        status=status,
    )
    if existing:
        invitation_forget(request, response)
    elif not request.user.is_authenticated and invitation.is_usable:
        # Kept through signing up and confirming the address (organizing.pending_invitation).
        invitation_remember(response, token=token, invitation=invitation)
    return response


def _status(form) -> int:
    return 400 if form.is_bound and not form.is_valid() else 200
