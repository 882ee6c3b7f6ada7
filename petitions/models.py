"""Models of the petition export.

They were created by the signatures app and keep its table names
(`Meta.db_table`), so moving them here changed no table.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from letters.models import Letter
from organizing.models import Campaign, Membership


class CampaignKey(models.Model):
    """A campaign's OpenPGP signing key. The secret lives in the keyring
    directory (petitions.openpgp), never in the database.

    Keys are kept after rotation so older exports still verify; only one is
    active per campaign.
    """

    class Source(models.TextChoices):
        GENERATED = "generated", _("Generated on this server")
        IMPORTED = "imported", _("Imported signing (sub)key")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="openpgp_keys")
    fingerprint = models.CharField(max_length=40, unique=True)
    public_key = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices)
    # Passphrase of an imported key, encrypted with a key derived from SECRET_KEY.
    passphrase_encrypted = models.BinaryField(blank=True, default=b"")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        db_table = "signatures_campaignkey"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(active=True),
                name="one_active_openpgp_key_per_campaign",
            )
        ]

    def __str__(self) -> str:
        return f"OpenPGP key {self.fingerprint} of {self.campaign}"

    @property
    def fingerprint_grouped(self) -> str:
        return " ".join(self.fingerprint[i : i + 4] for i in range(0, 40, 4))


class DelegateKey(models.Model):
    """A delegate's public encryption key, for optional encrypted exports."""

    membership = models.OneToOneField(
        Membership, on_delete=models.CASCADE, related_name="openpgp_key"
    )
    fingerprint = models.CharField(max_length=40)
    public_key = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "signatures_delegatekey"

    def __str__(self) -> str:
        return f"public key {self.fingerprint} of {self.membership}"


class PaperSize(models.TextChoices):
    A4 = "A4", _("A4")
    LETTER = "letter", _("US Letter")


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Rendering")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class ImmutableExport(Exception):
    """A delivered export cannot change."""


class Export(models.Model):
    """One rendering of a letter and its signatures into a signed PDF.

    `state_key` hashes everything the PDF shows (letter text and dates, the
    manifest, figures, keys, paper size, encryption recipients): starting an
    export for an unchanged state returns the existing one. `run_id` names
    the task run that currently owns the rendering; only that run may finish
    it, so a redelivered task cannot complete it twice.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    letter = models.ForeignKey(Letter, on_delete=models.PROTECT, related_name="exports")
    state_key = models.CharField(max_length=64)
    paper = models.CharField(max_length=8, choices=PaperSize.choices, default=PaperSize.A4)
    encrypt = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    run_id = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The running render's heartbeat: when it last reported progress.
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Results (set once, when the export is done).
    count = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    pdf_signature = models.TextField(blank=True)
    manifest_signature = models.TextField(blank=True)
    openpgp_fingerprint = models.CharField(max_length=40, blank=True)
    issuer_key_id = models.CharField(max_length=64, blank=True)
    # The manifest's format (petitions.manifest): 1 for exports made before
    # exports bound the letter's log, and for letters without a log; 2 for
    # an export bound to the checkpoint below (its tree size, its whole
    # signed note, and the log's verifier key), set when the export is done.
    manifest_format = models.PositiveSmallIntegerField(default=1)
    log_tree_size = models.PositiveBigIntegerField(null=True, blank=True)
    log_checkpoint = models.TextField(blank=True)
    log_verifier_key = models.CharField(max_length=400, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "signatures_export"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["letter", "state_key"],
                condition=models.Q(status__in=["queued", "running", "done"]),
                name="one_live_export_per_state",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.id} of {self.letter}"

    def save(self, *args, **kwargs):
        if not self._state.adding and self.pk is not None:
            stored = Export.objects.filter(pk=self.pk).values_list("delivered_at", flat=True)
            if stored and stored[0] is not None:
                raise ImmutableExport("A delivered export is immutable")
        super().save(*args, **kwargs)

    @property
    def is_finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.FAILED, ExportStatus.CANCELLED)

    @property
    def directory(self):
        return Path(settings.DATA_DIR) / "exports" / str(self.id)


class DeliveryMethod(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    EMAIL = "email", _("By email")
    POST = "post", _("By post")
    OTHER = "other", _("Other")


class Delivery(models.Model):
    """When, to whom and how a petition export was delivered."""

    export = models.OneToOneField(Export, on_delete=models.PROTECT, related_name="delivery")
    letter = models.OneToOneField(Letter, on_delete=models.PROTECT, related_name="delivery")
    delivered_at = models.DateTimeField(_("delivered at"))
    recipient = models.CharField(_("delivered to"), max_length=200)
    method = models.CharField(_("how"), max_length=16, choices=DeliveryMethod.choices)
    notes = models.TextField(_("notes"), max_length=2000, blank=True)
    response = models.TextField(_("response"), max_length=5000, blank=True)
    response_at = models.DateTimeField(_("response received"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "signatures_delivery"

    def __str__(self) -> str:
        return f"delivery of {self.letter} to {self.recipient}"
