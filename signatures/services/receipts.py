"""Receipts: what a signer can do later with the secret they were given:
check their signature's status, withdraw it before delivery."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from letters.models import Letter, LetterState
from signatures.errors import (
    BadRequest,
    Conflict,
    NotFound,
)
from signatures.models import (
    Signature,
)
from signatures.selectors import letter_figures_forget
from signatures.services.common import (
    sha256_hex,
)
from signatures.signals import receipt_exports_requested

# --- receipts ----------------------------------------------------------------------


def _receipt_signature(receipt) -> Signature:
    if not isinstance(receipt, str) or not 20 <= len(receipt) <= 128:
        raise BadRequest(_("Paste the receipt you saved or downloaded when you signed."))
    found = (
        Signature.objects.select_related("letter")
        .filter(receipt_hash=sha256_hex(receipt.strip()))
        .first()
    )
    if found is None:
        raise NotFound(_("No signature has this receipt. Check that you pasted all of it."))
    return found


def receipt_status(*, receipt) -> dict:
    signature = _receipt_signature(receipt)
    exports = []
    # petitions answers, without this module importing it (signatures.signals).
    for _receiver, found in receipt_exports_requested.send(sender=Signature, signature=signature):
        exports.extend(found)
    letter = signature.letter
    return {
        "status": "withdrawn" if signature.withdrawn else "counted",
        "letter": {"slug": letter.slug, "title": letter.title, "state": letter.state},
        "pseudonym": signature.pseudonym,
        "can_withdraw": not signature.withdrawn and letter.state != LetterState.DELIVERED,
        "exports": exports,
    }


def receipt_withdraw(*, receipt) -> Signature:
    """Withdraw a signature before its letter is delivered. Idempotent."""
    signature = _receipt_signature(receipt)
    with transaction.atomic():
        letter = Letter.objects.select_for_update().get(pk=signature.letter_id)
        if letter.state == LetterState.DELIVERED:
            raise Conflict(
                _("The petition has been delivered: a signature can no longer be withdrawn.")
            )
        Signature.objects.filter(pk=signature.pk).update(withdrawn=True)
    signature.withdrawn = True
    letter_figures_forget(letter)
    return signature
