"""Pages of the encrypted discussion channels. Thin: parse, call a service,
render. The chat itself runs in the browser (static/js/channels.js) over the
websocket (discussions.consumers)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from core.text import CleanTextField
from discussions import services as svc
from discussions.access import member_is_in
from discussions.models import DiscussionChannel, Retention
from discussions.selectors import channels_for
from organizing.decorators import member_required, organizer_required
from organizing.models import Role


class ChannelForm(forms.Form):
    name = CleanTextField(label=gettext_lazy("Name"), max_length=80)
    allowed_roles = forms.MultipleChoiceField(
        label=gettext_lazy("Who may join"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=Role.values,
        help_text=gettext_lazy(
            "Taking a role away starts a new key: its members cannot read what follows."
        ),
    )
    retention_days = forms.TypedChoiceField(
        label=gettext_lazy("Keep messages for"),
        choices=Retention.choices,
        coerce=int,
        initial=Retention.FOREVER,
    )


def _status(form) -> int:
    return 400 if form.is_bound and not form.is_valid() else 200


@member_required
def channel_list(request, *, campaign, membership):
    form = ChannelForm() if membership.role == Role.ORGANIZER else None
    return _list(request, campaign, membership, form)


def _list(request, campaign, membership, form, status=200):
    channels = channels_for(membership=membership)
    return render(
        request,
        "discussions/list.html",
        {
            "campaign": campaign,
            "membership": membership,
            "active": [c for c in channels if not c.is_archived],
            "archived": [c for c in channels if c.is_archived],
            "form": form,
        },
        status=status,
    )


@require_POST
@organizer_required
def channel_create(request, *, campaign, membership):
    form = ChannelForm(request.POST)
    if form.is_valid():
        try:
            channel = svc.channel_create(actor=request.user, campaign=campaign, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Channel created."))
            return redirect("organizing:channel_room", slug=campaign.slug, channel_id=channel.pk)
    return _list(request, campaign, membership, form, status=400)


@organizer_required
def channel_settings(request, channel_id, *, campaign, membership):
    channel = get_object_or_404(DiscussionChannel, pk=channel_id, campaign=campaign)
    initial = {
        "name": channel.name,
        "allowed_roles": channel.allowed_roles,
        "retention_days": channel.retention_days,
    }
    form = ChannelForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            svc.channel_update(actor=request.user, channel=channel, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Channel settings saved."))
            return redirect("organizing:channel_list", slug=campaign.slug)
    return render(
        request,
        "discussions/settings.html",
        {"campaign": campaign, "channel": channel, "form": form},
        status=_status(form),
    )


@require_POST
@organizer_required
def channel_archive(request, channel_id, *, campaign, membership):
    channel = get_object_or_404(DiscussionChannel, pk=channel_id, campaign=campaign)
    archived = request.POST.get("archived") != "0"
    svc.channel_archive(actor=request.user, channel=channel, archived=archived)
    messages.success(request, _("Channel archived.") if archived else _("Channel reopened."))
    return redirect("organizing:channel_list", slug=campaign.slug)


@member_required
def channel_room(request, channel_id, *, campaign, membership):
    channel = get_object_or_404(DiscussionChannel, pk=channel_id, campaign=campaign)
    if not member_is_in(membership=membership, channel=channel):
        return render(request, "organizing/forbidden.html", {"campaign": campaign}, status=403)
    return render(
        request,
        "discussions/room.html",
        {"campaign": campaign, "membership": membership, "channel": channel},
    )
