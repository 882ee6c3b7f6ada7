"""Two delegates starting one export, or one delegate uploading a key twice,
at once: no unique violation in PostgreSQL's log (core.db,
tests/support/postgres_log.py)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

from organizing.models import Membership
from petitions import services
from petitions.models import DelegateKey, Export, PaperSize
from tests.support.postgres_log import ServerLog, race_with_uncommitted_row

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_exports_of_one_state_at_once(roles, campaign_key, letter):
    snap = services.snapshot(letter, paper=PaperSize.A4, encrypt=False)
    log = ServerLog()

    def started_elsewhere():
        Export.objects.create(
            letter=letter, state_key=snap.key, created_by=roles.organizer, count=snap.manifest.count
        )

    export, created = race_with_uncommitted_row(
        started_elsewhere,
        lambda: services.export_start(actor=roles.delegate, letter=letter, enqueue=False),
    )
    assert not created
    assert export.created_by == roles.organizer
    assert Export.objects.count() == 1
    log.assert_no_conflict_logged(snap.key)


def encryption_key() -> tuple[str, str]:
    """(fingerprint, armored public key) of a new key that can encrypt."""
    home = tempfile.mkdtemp(prefix="dl-")
    gpg = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    try:
        subprocess.run(
            [*gpg, "--quick-gen-key", "Delegate <d@example.org>", "ed25519", "default", "never"],
            check=True,
            capture_output=True,
        )
        listing = subprocess.run(
            [*gpg, "--with-colons", "--list-keys"], capture_output=True, text=True, check=True
        ).stdout
        fingerprint = listing.split("fpr:::::::::")[1][:40]
        subprocess.run(
            [*gpg, "--quick-add-key", fingerprint, "cv25519", "encr", "never"],
            check=True,
            capture_output=True,
        )
        armored = subprocess.run(
            [*gpg, "--armor", "--export"], capture_output=True, text=True, check=True
        ).stdout
        return fingerprint, armored
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_uploading_a_delegate_key_twice_at_once(roles):
    membership = Membership.objects.get(user=roles.delegate, campaign=roles.campaign)
    fingerprint, armored = encryption_key()
    log = ServerLog()

    def uploaded_elsewhere():
        DelegateKey.objects.create(membership=membership, fingerprint="0" * 40, public_key="old")

    key = race_with_uncommitted_row(
        uploaded_elsewhere,
        lambda: services.delegate_key_set(
            actor=roles.delegate, campaign=roles.campaign, armored=armored
        ),
    )
    stored = DelegateKey.objects.get(membership=membership)
    assert (stored.pk, stored.fingerprint, stored.public_key) == (
        key.pk,
        fingerprint,
        armored.strip(),
    )
    log.assert_no_conflict_logged()
