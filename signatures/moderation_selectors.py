"""Reads of moderation: the organizers' queue (reports, text held for
review, hidden text), what waits for them, and what a signer's receipt says.

Organizers see of each signature what the public would see without
moderation (selectors.DisclosureRules.would_show), never more: a public name
below its signer's threshold and a department or location in a group under
k stay out of their pages too. For text held back they see which fields
matched which of the campaign's names and words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Min, Q
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from signatures import holds
from signatures.models import (
    MODERATED_FIELD_LABELS,
    MODERATED_FIELDS,
    HoldList,
    ModerationReason,
    ReportStatus,
    Signature,
    SignatureModeration,
    SignatureReport,
)
from signatures.selectors import DisclosureRules, letter_figures, moderation_of

QUEUE_LIMIT = 200
SEARCH_LIMIT = 50


@dataclass
class ModeratedSignature:
    """One signature as the moderation pages show it."""

    signature: Signature
    would_show: dict[str, str]
    moderation: SignatureModeration | None
    reports: list[SignatureReport] = field(default_factory=list)  # open ones
    earlier_reports: int = 0  # dismissed or upheld before
    matches: list[tuple[str, list[str]]] = field(default_factory=list)  # (field label, terms)

    @property
    def letter(self):
        return self.signature.letter

    @property
    def held(self) -> bool:
        return self.moderation is not None and self.moderation.held

    @property
    def hidden_fields(self) -> tuple[str, ...]:
        return self.moderation.hidden_fields if self.moderation is not None else ()

    @property
    def fields(self) -> list[tuple[str, str, str, bool]]:
        """(name, label, text the public would see, hidden or held back)."""
        hidden = set(self.hidden_fields)
        return [
            (name, MODERATED_FIELD_LABELS[name], self.would_show[name], name in hidden)
            for name in MODERATED_FIELDS
        ]

    @property
    def report_reasons(self) -> list[tuple[str, int]]:
        """(reason label, how many open reports give it), most given first."""
        counts = Counter(report.get_reason_display() for report in self.reports)
        return counts.most_common()

    @property
    def report_notes(self) -> list[SignatureReport]:
        return [report for report in self.reports if report.note]


def campaign_signatures(campaign, *, letter=None):
    """Counted signatures of the campaign (or of one of its letters)."""
    queryset = Signature.objects.counted().filter(letter__campaign=campaign)
    if letter is not None:
        queryset = queryset.filter(letter=letter)
    return queryset.select_related("letter", "letter__campaign", "moderation")


def _described(signatures, *, with_reports=True, terms=None) -> list[ModeratedSignature]:
    signatures = list(signatures)
    rules: dict[int, DisclosureRules] = {}
    open_reports: dict = {}
    earlier: dict = {}
    if with_reports and signatures:
        for report in SignatureReport.objects.filter(
            signature__in=signatures, status=ReportStatus.OPEN
        ):
            open_reports.setdefault(report.signature_id, []).append(report)
        earlier = dict(
            SignatureReport.objects.filter(signature__in=signatures)
            .exclude(status=ReportStatus.OPEN)
            .values_list("signature")
            .annotate(n=Count("id"))
        )
    described = []
    for sig in signatures:
        if sig.letter_id not in rules:
            rules[sig.letter_id] = DisclosureRules(sig.letter, letter_figures(sig.letter))
        item = ModeratedSignature(
            signature=sig,
            would_show=rules[sig.letter_id].would_show(sig),
            moderation=moderation_of(sig),
            reports=open_reports.get(sig.pk, []),
            earlier_reports=earlier.get(sig.pk, 0),
        )
        if terms and item.held:
            item.matches = _matches(sig, terms)
        described.append(item)
    return described


def _matches(sig, terms: list[str]) -> list[tuple[str, list[str]]]:
    """Which fields hold which terms: field names and the organizers' own
    terms, not the text (a public name may be below its threshold)."""
    found = []
    for name in MODERATED_FIELDS:
        matched = holds.matching_terms(terms, [getattr(sig, name)])
        if matched:
            found.append((MODERATED_FIELD_LABELS[name], matched))
    return found


def hold_terms(campaign) -> list[str]:
    hold_list = HoldList.objects.filter(campaign=campaign).first()
    return list(hold_list.terms) if hold_list is not None else []


def reported_signatures(campaign, *, letter=None) -> list[ModeratedSignature]:
    """Signatures with open reports, the longest waiting first (by the day of
    their first open report, then by random id)."""
    queryset = (
        campaign_signatures(campaign, letter=letter)
        .annotate(
            first_report=Min("reports__reported_on", filter=Q(reports__status=ReportStatus.OPEN))
        )
        .filter(first_report__isnull=False)
        .order_by("first_report", "id")
    )
    return _described(queryset[:QUEUE_LIMIT])


def held_signatures(campaign, *, letter=None) -> list[ModeratedSignature]:
    """Signatures whose text waits for review, in random-id order."""
    queryset = campaign_signatures(campaign, letter=letter).filter(moderation__held=True)
    return _described(queryset.order_by("id")[:QUEUE_LIMIT], terms=hold_terms(campaign))


def hidden_signatures(campaign, *, letter=None) -> list[ModeratedSignature]:
    """Signatures with text the organizers hid, the latest decisions first."""
    queryset = (
        campaign_signatures(campaign, letter=letter)
        .filter(moderation__isnull=False, moderation__held=False)
        .order_by("-moderation__decided_on", "id")
    )
    return _described(queryset[:QUEUE_LIMIT])


def signatures_search(campaign, query: str, *, letter=None) -> list[ModeratedSignature]:
    """Signatures whose pseudonym or comment contains `query` (those two
    always show unless moderated: searching them reveals nothing new)."""
    queryset = (
        campaign_signatures(campaign, letter=letter)
        .filter(Q(pseudonym__icontains=query) | Q(comment__icontains=query))
        .order_by("id")
    )
    return _described(queryset[:SEARCH_LIMIT])


def moderated_signature(campaign, signature_id) -> ModeratedSignature | None:
    signature = campaign_signatures(campaign).filter(pk=signature_id).first()
    if signature is None:
        return None
    return _described([signature], terms=hold_terms(campaign))[0]


# --- what waits for the organizers (the campaign overview's template tag) -----------


@dataclass(frozen=True)
class ModerationWaiting:
    reported: int  # signatures with open reports
    held: int  # signatures whose text waits for review
    url: str

    @property
    def count(self) -> int:
        return self.reported + self.held

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def text(self) -> str:
        parts = []
        if self.reported:
            parts.append(
                ngettext(
                    "%(n)d reported signature",
                    "%(n)d reported signatures",
                    self.reported,
                )
                % {"n": self.reported}
            )
        if self.held:
            parts.append(
                ngettext(
                    "%(n)d signature's text held for review",
                    "%(n)d signatures' text held for review",
                    self.held,
                )
                % {"n": self.held}
            )
        if not parts:
            return _("Nothing waits for moderation.")
        return _("Moderation: %(what)s.") % {"what": _(", ").join(parts)}


def moderation_waiting(campaign, *, letter=None) -> ModerationWaiting:
    signatures = Signature.objects.counted().filter(letter__campaign=campaign)
    url = reverse("signatures:moderation", args=[campaign.slug])
    if letter is not None:
        signatures = signatures.filter(letter=letter)
        url += f"?letter={letter.pk}"
    reported = signatures.filter(reports__status=ReportStatus.OPEN).values("pk").distinct().count()
    held = signatures.filter(moderation__held=True).count()
    return ModerationWaiting(reported=reported, held=held, url=url)


# --- the signer's receipt ------------------------------------------------------------


def receipt_moderation(signature) -> dict | None:
    """What the receipt says of the organizers' moderation of the signer's
    public text: None when all of it shows."""
    moderation = SignatureModeration.objects.filter(signature_id=signature.pk).first()
    if moderation is None or not moderation.hidden_fields:
        return None
    if moderation.held:
        return {
            "state": "waiting_for_review",
            "fields": list(MODERATED_FIELDS),
            "reason": None,
            "note": "",
            "date": None,
            "message": _(
                "Your signature counts. Your public text (pseudonym, name, comment, "
                "department, location) waits for the organizers' review before it is "
                "shown: it contains a name or word this campaign checks first, such as an "
                "executive's name."
            ),
        }
    fields = list(moderation.hidden_fields)
    labels = _(", ").join(str(MODERATED_FIELD_LABELS[name]).lower() for name in fields)
    reason = ModerationReason(moderation.reason) if moderation.reason else None
    values = {
        "fields": labels,
        "date": date_format(moderation.decided_on, "DATE_FORMAT") if moderation.decided_on else "",
        "reason": reason.label if reason else _("not given"),
    }
    message = (
        _(
            "Your signature counts. On %(date)s the organizers hid from the public list "
            "your %(fields)s. Reason: %(reason)s."
        )
        % values
    )
    if moderation.note:
        message += " " + _("Their note: “%(note)s”") % {"note": moderation.note}
    return {
        "state": "hidden",
        "fields": fields,
        "reason": moderation.reason or None,
        "note": moderation.note,
        "date": moderation.decided_on.isoformat() if moderation.decided_on else None,
        "message": message,
    }
