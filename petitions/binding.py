"""What binds an export to the letter's transparency log (docs/petition-export.md,
"The export binds the log").

An export of a letter that has a log binds the log's latest checkpoint: its
signature list is exactly the log's signature entries up to that tree size
minus the withdrawals among them, and each manifest entry names its log
entry (`log_index`). Before anything is rendered this module checks that
claim against the stored rows and refuses the export (LogNotBound) when it
would be false:

- something waits for its batch in a closed letter (closing seals it all,
  so a closed letter's export must hold everything accepted);
- counted signatures were sealed before the letter had a log (no log index);
- the counted rows and the log's counted entries differ, by token or index;
- the stored entries do not hash to the signed checkpoint, or its note does
  not verify with the log's key.

A letter without a log (its signatures were all collected before logs
existed) is exported as before, in manifest format 1, binding nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.errors import AppError
from letters.models import Letter, LetterState
from signatures import log_selectors, tlog
from signatures.models import LetterLog, PendingSignature, PendingWithdrawal, Signature

logger = logging.getLogger(__name__)


class LogNotBound(AppError, ValidationError):
    """The export would not be the log's signature list: nothing is exported."""

    status, code = 409, "export_not_bound"


@dataclass(frozen=True)
class LogBinding:
    """The checkpoint an export binds, checked against the letter's rows."""

    tree_size: int
    checkpoint: str  # the whole signed note, as GET /log/<slug>/checkpoint serves it
    verifier_key: str  # the log's signed-note verifier key
    signatures: int  # signature entries up to tree_size
    withdrawals: int  # withdrawal entries up to tree_size


def log_binding(letter: Letter) -> LogBinding | None:
    """The latest checkpoint of the letter's log, once the letter's counted
    signatures are shown to be exactly the log's at its size; None for a
    letter without a log. LogNotBound otherwise.

    Call it inside the transaction that also reads the rows the export
    lists: it locks the log row, which every batch seal locks before it
    writes, so no seal commits between this check and those reads.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("log_binding runs inside the export's transaction")
    log = LetterLog.objects.select_for_update().filter(letter=letter).first()
    if log is None:
        return None
    state = Letter.objects.filter(pk=letter.pk).values_list("state", flat=True).get()
    if state != LetterState.OPEN:
        _refuse_if_waiting(letter)
    checkpoint = log_selectors.latest_checkpoint(letter)
    if checkpoint is None:
        raise _disagree(letter, "the log has no checkpoint")
    verifier_key = log.verifier_key
    size = checkpoint.tree_size
    try:
        origin, note_size, note_root = tlog.parse_checkpoint(
            tlog.open_note(checkpoint.note, verifier_key)
        )
        tally = log_selectors.log_tally(letter, tree_size=size)
    except (ValueError, tlog.NoteVerificationFailed) as exc:
        raise _disagree(letter, str(exc)) from None
    if (origin, note_size, note_root) != (log.origin, size, tally.root) or bytes(
        checkpoint.root_hash
    ) != tally.root:
        raise _disagree(letter, f"the entries do not hash to the checkpoint of size {size}")
    if (checkpoint.signature_count, checkpoint.withdrawal_count) != (
        tally.signatures,
        tally.withdrawals,
    ):
        raise _disagree(letter, f"the checkpoint of size {size} counts other entries")
    rows = {
        token_hash: log_index
        for token_hash, log_index in Signature.objects.counted()
        .filter(letter=letter)
        .order_by()
        .values_list("token_hash", "log_index")
    }
    unlogged = sum(1 for log_index in rows.values() if log_index is None)
    if unlogged:
        raise LogNotBound(
            ngettext(
                "%(n)d of this letter's %(total)d counted signatures was collected before "
                "the letter had a transparency log, so no export can bind the log: its "
                "signature list would not be the log's.",
                "%(n)d of this letter's %(total)d counted signatures were collected before "
                "the letter had a transparency log, so no export can bind the log: its "
                "signature list would not be the log's.",
                unlogged,
            )
            % {"n": unlogged, "total": len(rows)}
        )
    if rows != tally.counted:
        missing = len(rows.keys() - tally.counted.keys())
        extra = len(tally.counted.keys() - rows.keys())
        moved = sum(1 for token, index in rows.items() if tally.counted.get(token, index) != index)
        raise _disagree(
            letter,
            f"{len(rows)} counted signatures, {len(tally.counted)} counted in the log at size "
            f"{size}: {missing} not in the log, {extra} only in the log, {moved} at another index",
        )
    return LogBinding(
        tree_size=size,
        checkpoint=checkpoint.note,
        verifier_key=verifier_key,
        signatures=tally.signatures,
        withdrawals=tally.withdrawals,
    )


def _refuse_if_waiting(letter: Letter) -> None:
    waiting = (
        PendingSignature.objects.filter(letter_id=letter.pk).count()
        + PendingWithdrawal.objects.filter(letter_id=letter.pk).count()
    )
    if waiting:
        raise LogNotBound(
            ngettext(
                "%(n)d signature or withdrawal of this closed letter still waits for its "
                "batch, so its log does not hold everything yet. It is sealed within a "
                "minute (an operator can seal it now: manage.py seal_batches %(slug)s --now); "
                "export again then.",
                "%(n)d signatures or withdrawals of this closed letter still wait for their "
                "batch, so its log does not hold everything yet. They are sealed within a "
                "minute (an operator can seal them now: manage.py seal_batches %(slug)s "
                "--now); export again then.",
                waiting,
            )
            % {"n": waiting, "slug": letter.slug}
        )


def _disagree(letter: Letter, detail: str) -> LogNotBound:
    # The detail names counts and sizes only, never a signature.
    logger.error("Export of letter %s refused: log and rows disagree: %s", letter.pk, detail)
    return LogNotBound(
        _(
            "This letter's signatures and its transparency log disagree, so an export "
            "would not be the log's signature list: nothing was exported. The operator "
            "should look at the server log before anyone exports this letter."
        )
    )
