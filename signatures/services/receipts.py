"""Receipts: what a signer can do later with the secret they were given:
check their signature's status, withdraw it before delivery."""

from __future__ import annotations

import base64

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from core.db import insert_unless_conflicting
from letters.markdown import markdown_to_text
from letters.models import Letter, LetterState, Update
from letters.selectors import letter_updates
from signatures.errors import (
    BadRequest,
    Conflict,
    NotFound,
)
from signatures.log_selectors import (
    latest_checkpoint,
    log_consistency_proof,
    log_inclusion_proof,
)
from signatures.models import PendingSignature, PendingWithdrawal, Signature
from signatures.moderation_selectors import receipt_moderation
from signatures.services.batches import after_acceptance, next_batch_within_minutes
from signatures.services.common import (
    sha256_hex,
)
from signatures.signals import receipt_exports_requested

# --- receipts ----------------------------------------------------------------------


def _receipt_hash(receipt) -> str:
    if not isinstance(receipt, str) or not 20 <= len(receipt) <= 128:
        raise BadRequest(_("Paste the receipt you saved or downloaded when you signed."))
    return sha256_hex(receipt.strip())


def _receipt_signature(receipt) -> Signature | PendingSignature:
    """The signature of this receipt, waiting for its batch or sealed.

    Waiting first: a seal moves the row from one table to the other in one
    transaction, so a waiting row not found means a seal committed before
    the lookup, and the sealed one is found next. The other order could miss
    both, a seal committing between the lookups."""
    receipt_hash = _receipt_hash(receipt)
    for model in (PendingSignature, Signature):
        found = model.objects.select_related("letter").filter(receipt_hash=receipt_hash).first()
        if found is not None:
            return found
    raise NotFound(_("No signature has this receipt. Check that you pasted all of it."))


RECEIPT_UPDATES = 20


def receipt_update(update: Update) -> dict:
    """An update of the signed letter as the receipt API lists it."""
    page = reverse("letters:public", args=[update.letter.slug])
    return {
        "id": str(update.pk),
        "title": update.title,
        "published": update.published_at.isoformat(),
        "edited": update.edited_at.isoformat() if update.edited_at else None,
        "text": markdown_to_text(update.body),
        "url": f"{page}#update-{update.pk}",
    }


def _updates(letter) -> list[dict]:
    """The letter's news, newest first (what its page shows)."""
    return [
        receipt_update(update)
        for update in letter_updates(letter).select_related("letter")[:RECEIPT_UPDATES]
    ]


def receipt_status(*, receipt, since=None) -> dict:
    """The signature's status. `since`: the tree size of a checkpoint the
    signer saw before; a sealed signature's answer then carries the RFC 6962
    consistency proof from that size to the current one (log.consistency)."""
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 1):
        raise BadRequest(_("“since” must be the size of a checkpoint you saw before."))
    signature = _receipt_signature(receipt)
    letter = signature.letter
    withdrawing = PendingWithdrawal.objects.filter(
        letter_id=letter.pk, token_hash=signature.token_hash
    ).exists()
    if isinstance(signature, PendingSignature):
        return {
            "status": "pending",
            "letter": {"slug": letter.slug, "title": letter.title, "state": letter.state},
            "pseudonym": signature.pseudonym,
            "can_withdraw": not withdrawing,
            "withdrawal_pending": withdrawing,
            "next_batch_within_minutes": next_batch_within_minutes(letter),
            "exports": [],
            "updates": _updates(letter),
            "moderation": None,
        }
    exports = []
    # petitions answers, without this module importing it (signatures.signals).
    for _receiver, found in receipt_exports_requested.send(sender=Signature, signature=signature):
        exports.extend(found)
    status = {
        "status": "withdrawn" if signature.withdrawn else "counted",
        "letter": {"slug": letter.slug, "title": letter.title, "state": letter.state},
        "pseudonym": signature.pseudonym,
        "can_withdraw": not signature.withdrawn
        and not withdrawing
        and letter.state != LetterState.DELIVERED,
        "withdrawal_pending": withdrawing,
        "exports": exports,
        "updates": _updates(letter),
        # What the organizers hid of the public text, when and why, or that
        # it waits for their review; None when all of it shows.
        "moderation": receipt_moderation(signature),
    }
    if signature.log_index is not None:
        checkpoint = latest_checkpoint(letter)
        status["log"] = {
            "index": signature.log_index,
            "tree_size": checkpoint.tree_size,
            "proof": [
                base64.b64encode(h).decode("ascii")
                for h in log_inclusion_proof(
                    letter=letter, index=signature.log_index, tree_size=checkpoint.tree_size
                )
            ],
        }
        if since is not None:
            if since > checkpoint.tree_size:
                raise BadRequest(
                    _("The log has never been that large; this is not its checkpoint.")
                )
            status["log"]["consistency"] = [
                base64.b64encode(h).decode("ascii")
                for h in log_consistency_proof(
                    letter=letter, old_size=since, new_size=checkpoint.tree_size
                )
            ]
    return status


def receipt_withdraw(*, receipt) -> None:
    """Withdraw a signature before its letter is delivered. Idempotent. The
    withdrawal waits for the letter's next batch, as signatures do."""
    signature = _receipt_signature(receipt)
    with transaction.atomic():
        letter = Letter.objects.select_for_update().get(pk=signature.letter_id)
        if letter.state == LetterState.DELIVERED:
            raise Conflict(
                _("The petition has been delivered: a signature can no longer be withdrawn.")
            )
        if isinstance(signature, Signature) and signature.withdrawn:
            return
        insert_unless_conflicting(
            PendingWithdrawal(letter_id=letter.pk, token_hash=signature.token_hash)
        )
    after_acceptance(letter=letter)
