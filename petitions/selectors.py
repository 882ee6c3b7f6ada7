"""Reads of the petition export: which export was delivered and where any
other stands against it, what waits for the campaign's delegates and
organizers, and the ready update a delivery offers."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from letters.models import LetterState, Update
from letters.selectors import Waiting
from petitions.models import Delivery, Export, ExportStatus


def delivery_update_draft(delivery: Delivery) -> dict:
    """The update a recorded delivery offers to post (its title and text), for
    the person who recorded it to read, change and post. Its notes stay out:
    they are the delegates' own."""
    export = delivery.export
    values = {
        "recipient": delivery.recipient,
        "date": date_format(delivery.delivered_at, "j F Y"),
        "count": export.count or 0,
        "method": delivery.get_method_display(),
    }
    return {
        "title": _("Delivered to %(recipient)s") % values,
        "body": _(
            "On %(date)s we delivered this letter, with the %(count)d signatures it "
            "held, to %(recipient)s (%(method)s).\n\n"
            "Thank you to everyone who signed. We will post their answer here."
        )
        % values,
    }


def update_posted_since(delivery: Delivery) -> bool:
    """Whether someone posted an update on the letter after the delivery was recorded."""
    return Update.objects.filter(
        letter_id=delivery.letter_id, published_at__gte=delivery.recorded_at
    ).exists()


def waiting_on_letter(letter) -> list[Waiting]:
    """What the letter's export and delivery wait for (the campaign overview)."""
    slug = letter.campaign.slug
    exports_page = reverse("petitions:list", args=[slug])
    if letter.state == LetterState.DELIVERED:
        delivery = Delivery.objects.filter(letter=letter).select_related("export").first()
        if delivery is None:
            return []
        detail = reverse("petitions:detail", args=[slug, delivery.export_id])
        waiting = []
        if not update_posted_since(delivery):
            waiting.append(
                Waiting(_("Tell the signers: post the ready update about the delivery."), detail)
            )
        if not delivery.response:
            waiting.append(Waiting(_("Record leadership's response when it comes."), detail))
        return waiting
    if letter.state != LetterState.CLOSED:
        return []
    latest = (
        Export.objects.filter(
            letter=letter,
            status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING, ExportStatus.DONE],
        )
        .order_by("-created_at")
        .first()
    )
    if latest is None:
        return [Waiting(_("Export the signed petition to deliver it."), exports_page)]
    detail = reverse("petitions:detail", args=[slug, latest.pk])
    if latest.status == ExportStatus.DONE:
        return [Waiting(_("An export is ready to deliver: record the delivery."), detail)]
    return [
        Waiting(
            _("An export is being made (%(progress)d %%).") % {"progress": latest.progress},
            detail,
        )
    ]


def delivered_export(letter) -> Export | None:
    """The export recorded as the letter's delivered petition, if any (a
    letter is delivered once: Delivery is one to one with it)."""
    return Export.objects.filter(letter=letter, delivery__isnull=False).first()


@dataclass(frozen=True)
class Standing:
    """Where a finished export stands against the letter's delivery."""

    export: Export
    delivered_export: Export | None

    @property
    def is_delivered(self) -> bool:
        """This export is the petition that was delivered."""
        return self.delivered_export is not None and self.delivered_export.pk == self.export.pk

    @property
    def is_superseded(self) -> bool:
        """Another export of the letter was delivered: this one is an earlier
        export, not the delivered petition."""
        return self.delivered_export is not None and not self.is_delivered


def export_standing(export: Export) -> Standing:
    return Standing(export=export, delivered_export=delivered_export(export.letter))
