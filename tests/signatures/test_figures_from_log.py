"""The count the site shows is the log's: signature entries minus withdrawals
in the latest checkpoint, with that checkpoint's tree size beside it (the
public letter page, the signing page, the letter API); and the signing page,
the letter API and the receipt say how long a signature waits for its batch."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from signatures.log_selectors import latest_checkpoint
from signatures.models import LogCheckpoint, Signature
from signatures.selectors import letter_figures, letter_figures_forget
from signatures.services.batches import batch_seal, batches_seal_due
from tests.signatures.helpers import post_json, sign_with_invites

pytestmark = pytest.mark.django_db


def shown(letter) -> dict:
    """What each surface shows, read afresh (the figures' cache dropped)."""
    letter_figures_forget(letter)
    detail = Client().get(f"/api/v1/letters/{letter.slug}").json()
    public = Client().get(f"/letters/{letter.slug}/").content.decode()
    sign = Client().get(f"/letters/{letter.slug}/sign/").content.decode()
    count = re.search(r'<p class="letter-count">\s*<strong>(\d+)</strong>', public)
    public_size = re.search(r"signed public log, at log size (\d+)\.", public)
    sign_count = re.search(r'id="figure-count">(\d+) signatures? of', sign)
    sign_size = re.search(r'id="figure-log">\(counted at log size (\d+)\)', sign)
    assert count and public_size and sign_count and sign_size, (public, sign)
    return {
        "api": (detail["count"], detail["log"]["tree_size"]),
        "public page": (int(count.group(1)), int(public_size.group(1))),
        "signing page": (int(sign_count.group(1)), int(sign_size.group(1))),
    }


def everywhere(figures: tuple[int, int]) -> dict:
    return dict.fromkeys(["api", "public page", "signing page"], figures)


def test_the_count_shown_is_the_latest_checkpoints(letter, attestation_ids):
    signed = sign_with_invites(letter, attestation_ids, 4)
    status, body = post_json(
        Client(), "/api/v1/receipts/withdraw", {"receipt": signed[0][1]["receipt"]}
    )
    assert status == 200 and body["status"] == "withdrawn"
    checkpoint = latest_checkpoint(letter)
    # Entry 0 is the letter, then 4 signatures and a withdrawal.
    assert (checkpoint.tree_size, checkpoint.signature_count, checkpoint.withdrawal_count) == (
        6,
        4,
        1,
    )
    assert letter_figures(letter, use_cache=False).count == checkpoint.count == 3
    assert shown(letter) == everywhere((3, 6))


def test_a_row_written_behind_the_logs_back_is_not_counted(letter, attestation_ids):
    """An operator who adds a signature row, or marks one withdrawn, without
    the log, does not move the count: it is what the log proves."""
    sign_with_invites(letter, attestation_ids, 2)
    Signature.objects.create(
        letter=letter, token_hash="f" * 64, receipt_hash="e" * 64, pseudonym="Ghost"
    )
    assert shown(letter) == everywhere((2, 3))
    Signature.objects.filter(letter=letter).exclude(pseudonym="Ghost").update(withdrawn=True)
    assert shown(letter) == everywhere((2, 3))


def test_while_signatures_wait_for_their_batch_the_count_does_not_move(scheduled, attestation_ids):
    letter = scheduled
    assert shown(letter) == everywhere((0, 1))
    signed = sign_with_invites(letter, attestation_ids, 2)
    assert [body["status"] for _t, body in signed] == ["pending", "pending"]
    assert batches_seal_due() == []  # two of three: not due
    assert shown(letter) == everywhere((0, 1))
    signed += sign_with_invites(letter, attestation_ids, 1)
    assert shown(letter) == everywhere((0, 1))  # due, not sealed yet
    (batch,) = batches_seal_due()
    assert batch.tree_size == 4
    assert shown(letter) == everywhere((3, 4))
    # A withdrawal waits for the next batch too.
    status, body = post_json(
        Client(), "/api/v1/receipts/withdraw", {"receipt": signed[1][1]["receipt"]}
    )
    assert status == 200 and body["withdrawal_pending"]
    assert shown(letter) == everywhere((3, 4))
    batches_seal_due(force=True)
    assert shown(letter) == everywhere((2, 5))
    assert LogCheckpoint.objects.filter(letter=letter).count() == 3


def test_a_letter_without_a_log_counts_its_rows_and_shows_no_tree_size(roles):
    from tests.signatures.factories import open_letter

    letter = open_letter(roles.campaign, with_key=False, slug="no-log")
    Signature.objects.create(
        letter=letter, token_hash="a" * 64, receipt_hash="b" * 64, pseudonym="Old"
    )
    figures = letter_figures(letter, use_cache=False)
    assert (figures.count, figures.tree_size) == (1, None)
    page = Client().get(f"/letters/{letter.slug}/").content.decode()
    assert "<strong>1</strong> signature of a goal" in page and "log size" not in page


# --- how long a signature waits ----------------------------------------------------------


BATCH_NOTE = re.compile(r'<p class="help" id="batch-note">([^<]*)</p>')


def sign_page_note(letter) -> str | None:
    page = Client().get(f"/letters/{letter.slug}/sign/").content.decode()
    found = BATCH_NOTE.search(page)
    return " ".join(found.group(1).split()) if found else None


def api_minutes(letter):
    return Client().get(f"/api/v1/letters/{letter.slug}").json()["next_batch_within_minutes"]


def test_the_signing_page_and_the_api_say_when_the_next_batch_comes(scheduled, attestation_ids):
    letter = scheduled
    # No batch yet: the next one is sealed as soon as it is full.
    assert api_minutes(letter) == 0
    assert sign_page_note(letter).startswith(
        "Your signature will be counted in the next batch, as soon as enough signatures wait"
    )
    sign_with_invites(letter, attestation_ids, 3)
    batch_seal(letter=letter, now=timezone.now() - timedelta(minutes=5, seconds=30))
    # 15 minutes between batches, 5½ gone: about 10 (rounded up).
    assert api_minutes(letter) == 10
    assert sign_page_note(letter).startswith(
        "Your signature will be counted in the next batch, within about 10 minutes."
    )
    ((_token, body),) = sign_with_invites(letter, attestation_ids, 1)
    assert body["status"] == "pending"
    status, receipt = post_json(Client(), "/api/v1/receipts/status", {"receipt": body["receipt"]})
    assert (status, receipt["status"], receipt["next_batch_within_minutes"]) == (200, "pending", 10)


def test_a_day_between_batches_is_said_in_minutes(scheduled, attestation_ids):
    """timedelta.seconds drops whole days: a day's wait must not read as 0."""
    letter = scheduled
    letter.campaign.batch_interval = 24 * 60
    letter.campaign.save()
    sign_with_invites(letter, attestation_ids, 3)
    batch_seal(letter=letter, now=timezone.now())
    assert api_minutes(letter) == 24 * 60
    ((_token, body),) = sign_with_invites(letter, attestation_ids, 1)
    status, receipt = post_json(Client(), "/api/v1/receipts/status", {"receipt": body["receipt"]})
    assert receipt["next_batch_within_minutes"] == 24 * 60
    assert "within about 1440 minutes" in sign_page_note(letter)


def test_a_letter_sealing_each_signature_at_once_says_nothing_of_batches(letter):
    assert api_minutes(letter) is None
    assert sign_page_note(letter) is None
    page = Client().get(f"/letters/{letter.slug}/sign/").content.decode()
    assert 'data-batch-minutes=""' in page


def test_a_closed_letter_has_no_next_batch(scheduled, roles):
    from letters.services import letter_close

    letter_close(actor=roles.organizer, letter=scheduled)
    assert api_minutes(scheduled) is None
