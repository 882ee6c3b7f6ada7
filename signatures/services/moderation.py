"""Moderation of what signers show in public (docs/organizers-guide.md,
"Moderation"): organizers hide and show again a signature's public text,
anyone reports it, and a campaign's hold list keeps matching text back for
review when its batch is sealed.

Nothing here changes whether or how a signature counts, or its log entry:
only what the public list, the API and exports show. Organizer actions go
through require_organizer and the audit log, which names the signature by
its public id and never copies its text (hidden text must not survive
elsewhere). Reports keep nothing about who sent them.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils.translation import gettext as _

from organizing.models import Campaign
from organizing.services import audit_record, require_organizer
from signatures import holds
from signatures.errors import BadRequest, Conflict, NotFound
from signatures.models import (
    HOLD_TERM_MAX,
    HOLD_TERMS_MAX,
    MODERATED_FIELDS,
    MODERATION_NOTE_MAX,
    HoldList,
    ModerationReason,
    ReportStatus,
    Signature,
    SignatureModeration,
    SignatureReport,
    today,
)
from signatures.selectors import letter_figures_forget
from signatures.services.common import clean_text


def _reason(value) -> str:
    if value not in ModerationReason.values:
        raise BadRequest(_("Choose a reason from the list."))
    return value


def _note(value) -> str:
    return clean_text(value, field=_("Note"), max_len=MODERATION_NOTE_MAX, multiline=True)


def _forget_figures_after_commit(signature: Signature) -> None:
    # Hidden departments and locations leave the public group figures.
    letter = signature.letter
    transaction.on_commit(lambda: letter_figures_forget(letter))


# --- organizers ----------------------------------------------------------------------


@transaction.atomic
def signature_hide(*, actor, signature: Signature, fields, reason, note="") -> SignatureModeration:
    """Hide exactly `fields` (a subset of MODERATED_FIELDS) of the signature's
    public text, with a reason from ModerationReason and a note for the
    signer. Ends a hold for review; the signature's open reports are upheld."""
    campaign = signature.letter.campaign
    require_organizer(user=actor, campaign=campaign)
    if isinstance(fields, str) or not isinstance(fields, (list, tuple, set, frozenset)):
        raise BadRequest(_("Choose what to hide."))
    chosen = set(fields)
    if not chosen or not chosen <= set(MODERATED_FIELDS):
        raise BadRequest(
            _("Choose what to hide: the pseudonym, name, comment, department or location.")
        )
    reason = _reason(reason)
    note = _note(note)
    moderation, _created = SignatureModeration.objects.select_for_update().get_or_create(
        signature=signature
    )
    was_held = moderation.held
    moderation.held = False
    for name in MODERATED_FIELDS:
        setattr(moderation, f"hide_{name}", name in chosen)
    moderation.reason = reason
    moderation.note = note
    moderation.decided_on = today()
    moderation.save()
    upheld = SignatureReport.objects.filter(signature=signature, status=ReportStatus.OPEN).update(
        status=ReportStatus.UPHELD
    )
    hidden = ", ".join(name for name in MODERATED_FIELDS if name in chosen)
    summary = f"{signature.letter.slug}: hid {hidden} ({reason})"
    if was_held:
        summary += ", after review"
    if upheld:
        summary += f", {upheld} report(s) upheld"
    audit_record(
        campaign=campaign, actor=actor, action="signature.hide", obj=signature, summary=summary
    )
    _forget_figures_after_commit(signature)
    return moderation


@transaction.atomic
def signature_show(*, actor, signature: Signature) -> bool:
    """Show the signature's public text again, or approve text held for
    review. Returns False when nothing was hidden or held."""
    campaign = signature.letter.campaign
    require_organizer(user=actor, campaign=campaign)
    moderation = SignatureModeration.objects.select_for_update().filter(signature=signature).first()
    if moderation is None:
        return False
    held = moderation.held
    moderation.delete()
    audit_record(
        campaign=campaign,
        actor=actor,
        action="signature.approve" if held else "signature.show",
        obj=signature,
        summary=f"{signature.letter.slug}: public text shown",
    )
    _forget_figures_after_commit(signature)
    return True


@transaction.atomic
def reports_dismiss(*, actor, signature: Signature) -> int:
    """Keep the signature's text as it is: its open reports are dismissed.
    Returns how many."""
    campaign = signature.letter.campaign
    require_organizer(user=actor, campaign=campaign)
    dismissed = SignatureReport.objects.filter(
        signature=signature, status=ReportStatus.OPEN
    ).update(status=ReportStatus.DISMISSED)
    if dismissed:
        audit_record(
            campaign=campaign,
            actor=actor,
            action="report.dismiss",
            obj=signature,
            summary=f"{signature.letter.slug}: {dismissed} report(s) dismissed",
        )
    return dismissed


def hold_terms_parse(raw) -> list[str]:
    """The hold list typed one name or word a line: cleaned, each with enough
    letters to hold anything but everything, duplicates (as folded) dropped."""
    if not isinstance(raw, str):
        raise BadRequest(_("Type one name or word a line."))
    terms: list[str] = []
    seen: set[str] = set()
    for line in raw.splitlines():
        term = clean_text(line, field=_("Names and words"), max_len=HOLD_TERM_MAX)
        if not term:
            continue
        folded = holds.fold(term)
        if len(folded) < holds.TERM_MIN_LETTERS:
            raise BadRequest(
                _(
                    "“%(term)s” is too short: a name or word needs at least %(n)d letters "
                    "or digits, or it would hold almost every signature."
                )
                % {"term": term, "n": holds.TERM_MIN_LETTERS}
            )
        if folded not in seen:
            seen.add(folded)
            terms.append(term)
    if len(terms) > HOLD_TERMS_MAX:
        raise BadRequest(
            _("The list can hold at most %(max)d names and words.") % {"max": HOLD_TERMS_MAX}
        )
    return terms


@transaction.atomic
def hold_list_update(*, actor, campaign: Campaign, terms) -> HoldList:
    """Replace the campaign's hold list (`terms`: the text typed, one a line).
    It applies to the batches sealed from now on."""
    require_organizer(user=actor, campaign=campaign)
    parsed = hold_terms_parse(terms)
    hold_list, _created = HoldList.objects.select_for_update().get_or_create(campaign=campaign)
    if hold_list.terms != parsed:
        hold_list.terms = parsed
        hold_list.save(update_fields=["terms"])
        # The count, not the names: the list may name people.
        audit_record(
            campaign=campaign,
            actor=actor,
            action="hold_list.update",
            obj=hold_list,
            summary=f"{len(parsed)} name(s) and word(s) hold text for review",
        )
    return hold_list


# --- anyone --------------------------------------------------------------------------


def reportable_signature(*, letter, signature_id) -> Signature:
    """A counted signature of the letter, by its public id; NotFound else."""
    try:
        pk = uuid.UUID(str(signature_id))
    except ValueError:
        raise NotFound(_("This signature is not on the letter's list.")) from None
    signature = (
        Signature.objects.counted()
        .filter(pk=pk, letter_id=letter.pk)
        .select_related("moderation")
        .first()
    )
    if signature is None:
        raise NotFound(_("This signature is not on the letter's list."))
    return signature


def report_create(*, letter, signature_id, reason, note="") -> SignatureReport:
    """Record a report of a signature on the letter's public list. Stores
    the reason, the note and the day; nothing about who reported (the caller
    rate-limits by client key in the cache, never in the database)."""
    signature = reportable_signature(letter=letter, signature_id=signature_id)
    reason = _reason(reason)
    note = _note(note)
    moderation = getattr(signature, "moderation", None)
    if moderation is not None and moderation.held:
        raise Conflict(
            _("This signature's text is not shown: it already waits for the organizers' review.")
        )
    return SignatureReport.objects.create(signature=signature, reason=reason, note=note)


# --- at the seal (signatures.services.batches) ---------------------------------------


def holds_for_batch(*, letter, signatures: list[Signature]) -> list[SignatureModeration]:
    """Hold rows for the batch's signatures whose public text matches the
    campaign's hold list, in the order given (the seal's random order), for
    the seal to insert in its own transaction."""
    terms = HoldList.objects.filter(campaign_id=letter.campaign_id).values_list("terms", flat=True)
    terms = next(iter(terms), None)
    if not terms:
        return []
    return [
        SignatureModeration(signature_id=signature.pk, held=True)
        for signature in signatures
        if not signature.withdrawn
        and holds.matching_terms(terms, [getattr(signature, name) for name in MODERATED_FIELDS])
    ]
