"""End-to-end encrypted discussion channels.

The server stores and relays ciphertext only. What it keeps per message is the
ciphertext, the AES-GCM IV, the key epoch, the sender's membership and the hour
(never a finer time, never an address). Channel keys exist on the server only
wrapped (AES-KW) for one member device each; the wrapping keys come from ECDH
between two member devices, whose private halves never leave the browsers.

The tables keep the names they had when these models lived in `organizing`
(`Meta.db_table`): moving them here changed no table, index or row
(discussions/migrations/0001_initial.py).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from organizing.models import Campaign, Membership, Role


def hour_now():
    """The current time truncated to the hour (all we store about when)."""
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def all_roles() -> list[str]:
    return [Role.ORGANIZER.value, Role.DELEGATE.value, Role.MEMBER.value]


class Retention(models.IntegerChoices):
    """How long messages are kept, in days (0: forever)."""

    FOREVER = 0, _("Forever")
    DAY = 1, _("1 day")
    WEEK = 7, _("1 week")
    MONTH = 30, _("30 days")


class DiscussionChannel(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="discussion_channels"
    )
    name = models.CharField(_("name"), max_length=80)
    # Roles whose members may join, e.g. ["organizer"] for an organizers-only channel.
    allowed_roles = models.JSONField(_("who may join"), default=all_roles)
    retention_days = models.PositiveSmallIntegerField(
        _("keep messages for"), choices=Retention.choices, default=Retention.FOREVER
    )
    # The key epoch new messages must use; bumped when someone loses access.
    current_epoch = models.PositiveIntegerField(default=1)
    # Per-channel change counter: every stored change (post, edit, delete) takes
    # the next number under a row lock, so clients can detect a gap and resync.
    last_seq = models.PositiveBigIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=hour_now)

    class Meta:
        db_table = "organizing_discussionchannel"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="channel_name_per_campaign")
        ]

    def __str__(self) -> str:
        return f"#{self.name} ({self.campaign})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def allows_role(self, role: str) -> bool:
        return role in (self.allowed_roles or [])


class MemberDeviceKey(models.Model):
    """The ECDH P-256 public key of one member's browser (raw point, base64)."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="device_keys")
    public_key = models.CharField(max_length=120)
    # SHA-256 of the raw public key, hex: what members compare out of band.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=hour_now)

    class Meta:
        db_table = "organizing_memberdevicekey"
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "fingerprint"], name="one_device_key_row_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"device key {self.fingerprint[:16]} of {self.membership_id}"


class ChannelKeyEpoch(models.Model):
    """One generation of a channel's key. The first device that claims an epoch
    generates its key and wraps it for the others."""

    channel = models.ForeignKey(DiscussionChannel, on_delete=models.CASCADE, related_name="epochs")
    number = models.PositiveIntegerField()
    keyholder = models.ForeignKey(
        MemberDeviceKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    established_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=hour_now)

    class Meta:
        db_table = "organizing_channelkeyepoch"
        constraints = [
            models.UniqueConstraint(fields=["channel", "number"], name="one_epoch_number")
        ]

    def __str__(self) -> str:
        return f"epoch {self.number} of {self.channel_id}"


class WrappedKey(models.Model):
    """A channel key of one epoch, wrapped for one device (AES-KW, with a key
    from ECDH(wrapper, recipient) and HKDF-SHA-256)."""

    channel = models.ForeignKey(
        DiscussionChannel, on_delete=models.CASCADE, related_name="wrapped_keys"
    )
    epoch = models.PositiveIntegerField()
    recipient = models.ForeignKey(
        MemberDeviceKey, on_delete=models.CASCADE, related_name="wrapped_keys"
    )
    # Copied, so the recipient can still unwrap after the wrapper leaves.
    wrapper_public_key = models.CharField(max_length=120)
    wrapper_fingerprint = models.CharField(max_length=64)
    wrapped = models.CharField(max_length=80)
    salt = models.CharField(max_length=44)
    created_at = models.DateTimeField(default=hour_now)

    class Meta:
        db_table = "organizing_wrappedkey"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "epoch", "recipient"], name="one_wrap_per_device_and_epoch"
            )
        ]

    def __str__(self) -> str:
        return f"key of epoch {self.epoch} for {self.recipient_id}"


class Message(models.Model):
    """Ciphertext only. A deleted message stays as a tombstone (no ciphertext)
    until retention removes it, so clients that were offline learn about it."""

    channel = models.ForeignKey(
        DiscussionChannel, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    epoch = models.PositiveIntegerField()
    sender = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ciphertext = models.TextField(blank=True)
    iv = models.CharField(max_length=24, blank=True)
    created_hour = models.DateTimeField(default=hour_now, db_index=True)
    edited = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "organizing_message"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "seq"], name="one_message_per_seq")
        ]
        indexes = [models.Index(fields=["channel", "id"], name="message_channel_id")]

    def __str__(self) -> str:
        return f"message {self.pk} in {self.channel_id}"
