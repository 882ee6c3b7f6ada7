"""State changes for the encrypted discussion channels.

Views, the websocket consumer and the receivers of organizing's signals call
these functions; nothing else writes the channel models. The server never
sees a channel key or a plaintext: it checks who may do what, validates the
shape of ciphertexts and wrapped keys, keeps them, and tells connected
clients about changes through discussions.events, *after* the transaction
commits (a client that misses an event finds the change when it resyncs).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

from allauth.mfa.models import Authenticator
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import text
from core.db import insert_unless_conflicting
from discussions.access import Access, current_access
from discussions.events import channel_group, emit, emit_member
from discussions.models import (
    ChannelKeyEpoch,
    DiscussionChannel,
    MemberDeviceKey,
    Message,
    Retention,
    WrappedKey,
    hour_now,
)
from discussions.selectors import epoch_established, message_dict, wrap_dict
from discussions.validation import ChannelError, base64_field, whole_number
from organizing.models import PRIVILEGED_ROLES, Campaign, Membership, Role
from organizing.services import audit_record, require_organizer

# Limits on what clients send (bytes after base64 decoding).
MAX_CIPHERTEXT_BYTES = 12 * 1024  # ~4,000 characters of text plus the GCM tag
IV_BYTES = 12  # AES-GCM 96-bit IV
PUBLIC_KEY_BYTES = 65  # uncompressed P-256 point
WRAPPED_KEY_BYTES = 40  # AES-KW of a 256-bit key
SALT_BYTES = 16
MAX_WRAPS_PER_FRAME = 500
MAX_DEVICES_PER_MEMBER = 10


def clean_roles(roles) -> list[str]:
    roles = [r for r in Role.values if r in set(roles or [])]
    if not roles:
        raise ChannelError(_("Choose at least one role that may join."), "invalid")
    return roles


def clean_retention(days) -> int:
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = -1
    if days not in Retention.values:
        raise ChannelError(_("Choose how long messages are kept."), "invalid")
    return days


def fingerprint_of(raw_public_key: bytes) -> str:
    return hashlib.sha256(raw_public_key).hexdigest()


# --- channels (organizers) --------------------------------------------------------


def channel_name_clean(value) -> str:
    """Under the rule for every name shown to others (core.text)."""
    return text.clean_text(value, field=_("Channel name"), max_len=80, required=True)


@transaction.atomic
def channel_create(
    *,
    actor,
    campaign: Campaign,
    name: str,
    allowed_roles=None,
    retention_days: int = Retention.FOREVER,
) -> DiscussionChannel:
    require_organizer(user=actor, campaign=campaign)
    name = channel_name_clean(name)
    if DiscussionChannel.objects.filter(campaign=campaign, name=name).exists():
        raise ChannelError(_("This campaign already has a channel with that name."), "invalid")
    channel = DiscussionChannel.objects.create(
        campaign=campaign,
        name=name,
        allowed_roles=clean_roles(allowed_roles if allowed_roles is not None else Role.values),
        retention_days=clean_retention(retention_days),
    )
    ChannelKeyEpoch.objects.create(channel=channel, number=1)
    audit_record(
        campaign=campaign,
        actor=actor,
        action="channel.create",
        obj=channel,
        summary=f"{name}: {', '.join(channel.allowed_roles)}",
    )
    return channel


@transaction.atomic
def channel_update(
    *,
    actor,
    channel: DiscussionChannel,
    name: str | None = None,
    allowed_roles=None,
    retention_days=None,
) -> DiscussionChannel:
    """Rename, change who may join or the retention. Taking a role away rotates
    the key, so the members who lose access cannot read what comes next."""
    require_organizer(user=actor, campaign=channel.campaign)
    channel = DiscussionChannel.objects.select_for_update().get(pk=channel.pk)
    changed = []
    if name is not None:
        name = channel_name_clean(name)
        if (
            name != channel.name
            and DiscussionChannel.objects.filter(campaign=channel.campaign, name=name).exists()
        ):
            raise ChannelError(_("This campaign already has a channel with that name."), "invalid")
        if name != channel.name:
            channel.name = name
            changed.append("name")
    lost_roles: set[str] = set()
    if allowed_roles is not None:
        roles = clean_roles(allowed_roles)
        if roles != channel.allowed_roles:
            lost_roles = set(channel.allowed_roles) - set(roles)
            channel.allowed_roles = roles
            changed.append("allowed_roles")
    if retention_days is not None:
        days = clean_retention(retention_days)
        if days != channel.retention_days:
            channel.retention_days = days
            changed.append("retention_days")
    if not changed:
        return channel
    channel.save(update_fields=changed)
    audit_record(
        campaign=channel.campaign,
        actor=actor,
        action="channel.update",
        obj=channel,
        summary=_("Changed: %(fields)s") % {"fields": ", ".join(changed)},
    )
    emit(
        channel_group(channel.pk),
        {
            "type": "channel",
            "name": channel.name,
            "allowed_roles": channel.allowed_roles,
            "retention_days": channel.retention_days,
            "archived": channel.is_archived,
        },
    )
    if lost_roles:
        _rotate(channel, exclude_roles=lost_roles)
    return channel


@transaction.atomic
def channel_archive(*, actor, channel: DiscussionChannel, archived: bool = True):
    """Archived channels stay readable but take no new messages."""
    require_organizer(user=actor, campaign=channel.campaign)
    channel = DiscussionChannel.objects.select_for_update().get(pk=channel.pk)
    if channel.is_archived == archived:
        return channel
    channel.archived_at = timezone.now() if archived else None
    channel.save(update_fields=["archived_at"])
    audit_record(
        campaign=channel.campaign,
        actor=actor,
        action="channel.archive" if archived else "channel.unarchive",
        obj=channel,
    )
    emit(
        channel_group(channel.pk),
        {
            "type": "channel",
            "name": channel.name,
            "allowed_roles": channel.allowed_roles,
            "retention_days": channel.retention_days,
            "archived": channel.is_archived,
        },
    )
    return channel


# --- device keys and wrapped channel keys ----------------------------------------


def device_key_register(*, membership: Membership, public_key: str) -> MemberDeviceKey:
    """Record a browser's ECDH P-256 public key (idempotent)."""
    raw = base64_field(public_key, name="device_key", size=PUBLIC_KEY_BYTES)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise ChannelError(_("device_key is not a P-256 public key."), "bad_field")
    fingerprint = fingerprint_of(raw)
    existing = MemberDeviceKey.objects.filter(
        membership=membership, fingerprint=fingerprint
    ).first()
    if existing:
        return existing
    if MemberDeviceKey.objects.filter(membership=membership).count() >= MAX_DEVICES_PER_MEMBER:
        raise ChannelError(_("Too many devices registered for this member."), "too_many_devices")
    device = MemberDeviceKey(
        membership=membership, public_key=base64.b64encode(raw).decode(), fingerprint=fingerprint
    )
    if insert_unless_conflicting(device):
        return device
    # Registered concurrently by another request.
    return MemberDeviceKey.objects.get(membership=membership, fingerprint=fingerprint)


@transaction.atomic
def keys_store(
    *,
    membership_id: int,
    channel_id: int,
    device_id: int,
    epoch,
    wraps,
    claim: bool = False,
) -> list[dict]:
    """Store a channel key of `epoch` wrapped for some devices.

    With `claim`, the sending device declares it generated the epoch's key; only
    the first claim of an epoch wins (a conditional UPDATE), later claimers get
    `epoch_taken` and wait for their copy. Wraps for devices that already have
    one for that epoch are ignored. Returns the wraps stored.
    """
    access = current_access(membership_id=membership_id, channel_id=channel_id)
    channel = access.channel
    epoch = whole_number(epoch, name="epoch", minimum=1)
    if epoch != channel.current_epoch:
        raise ChannelError(_("That key epoch is not the current one."), "wrong_epoch")
    device = MemberDeviceKey.objects.filter(pk=device_id, membership=access.membership).first()
    if device is None:
        raise ChannelError(_("Register this device's key first."), "no_device")
    if not isinstance(wraps, list) or len(wraps) > MAX_WRAPS_PER_FRAME:
        raise ChannelError(_("wraps must be a list of at most 500 keys."), "bad_field")
    if claim:
        claimed = ChannelKeyEpoch.objects.filter(
            channel=channel, number=epoch, established_at__isnull=True
        ).update(keyholder=device, established_at=hour_now())
        if not claimed:
            raise ChannelError(_("Another member already made this epoch's key."), "epoch_taken")
    elif not epoch_established(channel=channel, epoch=epoch):
        raise ChannelError(_("Nobody has made this epoch's key yet."), "no_key")
    allowed_devices = dict(
        MemberDeviceKey.objects.filter(
            membership__campaign_id=channel.campaign_id,
            membership__role__in=channel.allowed_roles,
        ).values_list("pk", "fingerprint")
    )
    already = set(
        WrappedKey.objects.filter(channel=channel, epoch=epoch).values_list(
            "recipient_id", flat=True
        )
    )
    rows = []
    for item in wraps:
        if not isinstance(item, dict):
            raise ChannelError(_("Each wrapped key is an object."), "bad_field")
        recipient = whole_number(item.get("device"), name="device", minimum=1)
        wrapped = base64_field(item.get("wrapped"), name="wrapped", size=WRAPPED_KEY_BYTES)
        salt = base64_field(item.get("salt"), name="salt", size=SALT_BYTES)
        if recipient not in allowed_devices:
            raise ChannelError(_("A wrapped key is for a device outside the channel."), "bad_field")
        if recipient in already:
            continue
        already.add(recipient)
        rows.append(
            WrappedKey(
                channel=channel,
                epoch=epoch,
                recipient_id=recipient,
                wrapper_public_key=device.public_key,
                wrapper_fingerprint=device.fingerprint,
                wrapped=base64.b64encode(wrapped).decode(),
                salt=base64.b64encode(salt).decode(),
            )
        )
    # A row another member wrapped concurrently is not stored.
    stored = [wrap_dict(row) for row in rows if insert_unless_conflicting(row)]
    if stored:
        frame = {"type": "keys", "epoch": epoch, "wraps": stored}
        emit(channel_group(channel.pk), frame)
    return stored


# --- messages ---------------------------------------------------------------------


def _next_seq(channel: DiscussionChannel) -> int:
    """The next change number; the caller holds the channel row lock."""
    DiscussionChannel.objects.filter(pk=channel.pk).update(last_seq=F("last_seq") + 1)
    channel.refresh_from_db(fields=["last_seq"])
    return channel.last_seq


def _check_ciphertext(*, channel: DiscussionChannel, epoch, ciphertext, iv) -> tuple[str, str]:
    if channel.is_archived:
        raise ChannelError(_("This channel is archived."), "archived")
    epoch = whole_number(epoch, name="epoch", minimum=1)
    if epoch != channel.current_epoch:
        raise ChannelError(
            _("Messages must use the current key epoch (%(epoch)s).")
            % {"epoch": channel.current_epoch},
            "wrong_epoch",
        )
    raw_ct = base64_field(ciphertext, name="ciphertext", max_size=MAX_CIPHERTEXT_BYTES)
    if len(raw_ct) < 17:  # at least one byte plus the 16-byte GCM tag
        raise ChannelError(_("ciphertext is too short."), "bad_field")
    base64_field(iv, name="iv", size=IV_BYTES)
    return ciphertext, iv


@transaction.atomic
def message_post(*, membership_id: int, channel_id: int, epoch, ciphertext, iv) -> dict:
    access = current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
    channel = access.channel
    ciphertext, iv = _check_ciphertext(channel=channel, epoch=epoch, ciphertext=ciphertext, iv=iv)
    message = Message.objects.create(
        channel=channel,
        seq=_next_seq(channel),
        epoch=epoch,
        sender=access.membership,
        ciphertext=ciphertext,
        iv=iv,
    )
    data = message_dict(message, names={access.membership.pk: access.membership.display_name})
    emit(channel_group(channel.pk), {"type": "message", "message": data})
    return data


def _own_message(access: Access, message_id) -> Message:
    message_id = whole_number(message_id, name="id", minimum=1)
    message = (
        Message.objects.select_for_update()
        .filter(pk=message_id, channel=access.channel, deleted=False)
        .first()
    )
    if message is None:
        raise ChannelError(_("No such message."), "not_found")
    if message.sender_id != access.membership.pk:
        raise ChannelError(_("You can only change your own messages."), "not_yours")
    return message


@transaction.atomic
def message_edit(*, membership_id: int, channel_id: int, message_id, epoch, ciphertext, iv) -> dict:
    access = current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
    message = _own_message(access, message_id)
    ciphertext, iv = _check_ciphertext(
        channel=access.channel, epoch=epoch, ciphertext=ciphertext, iv=iv
    )
    message.ciphertext = ciphertext
    message.iv = iv
    message.epoch = epoch
    message.edited = True
    message.seq = _next_seq(access.channel)
    message.save(update_fields=["ciphertext", "iv", "epoch", "edited", "seq"])
    data = message_dict(message, names={access.membership.pk: access.membership.display_name})
    emit(channel_group(access.channel.pk), {"type": "message", "message": data})
    return data


@transaction.atomic
def message_delete(*, membership_id: int, channel_id: int, message_id) -> dict:
    access = current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
    if access.channel.is_archived:
        raise ChannelError(_("This channel is archived."), "archived")
    message = _own_message(access, message_id)
    message.ciphertext = ""
    message.iv = ""
    message.deleted = True
    message.seq = _next_seq(access.channel)
    message.save(update_fields=["ciphertext", "iv", "deleted", "seq"])
    data = message_dict(message, names={access.membership.pk: access.membership.display_name})
    emit(channel_group(access.channel.pk), {"type": "message", "message": data})
    return data


# --- key rotation -----------------------------------------------------------------


def _rotate(channel: DiscussionChannel, *, exclude_membership: int | None = None, exclude_roles=()):
    """Start a new key epoch. Its key is made by a remaining member's browser
    and wrapped only for the remaining members' devices."""
    DiscussionChannel.objects.filter(pk=channel.pk).update(current_epoch=F("current_epoch") + 1)
    channel.refresh_from_db(fields=["current_epoch"])
    ChannelKeyEpoch.objects.create(channel=channel, number=channel.current_epoch)
    emit(
        channel_group(channel.pk),
        {
            "type": "rotate",
            "epoch": channel.current_epoch,
            "removed_member": exclude_membership,
            "removed_roles": sorted(exclude_roles),
        },
    )


def channels_revoke_member(*, membership: Membership) -> None:
    """A member is being removed (inside the removal's transaction, before the
    row goes): rotate the key of every channel they could be in, and cut their
    sockets."""
    channels = DiscussionChannel.objects.select_for_update().filter(
        campaign_id=membership.campaign_id
    )
    has_keys = set(
        WrappedKey.objects.filter(recipient__membership=membership).values_list(
            "channel_id", flat=True
        )
    )
    for channel in channels:
        if channel.allows_role(membership.role) or channel.pk in has_keys:
            _rotate(channel, exclude_membership=membership.pk)
    emit_member(membership.pk, "member.removed")


def sockets_close_without_second_factor(*, user) -> None:
    """An organizer or delegate left without a second factor loses their open
    sockets at once (their next connection is refused until they have one
    again)."""
    if Authenticator.objects.filter(user_id=user.pk).exists():
        return
    privileged = Membership.objects.filter(user_id=user.pk, role__in=PRIVILEGED_ROLES)
    for membership_id in privileged.values_list("pk", flat=True):
        emit_member(membership_id, "member.removed", reason="mfa")


def channels_revoke_role(*, membership: Membership, old_role: str) -> None:
    """A member's role changed (inside the change's transaction): if the new
    role may not join a channel the old one could, the member loses it like a
    removed member (new key epoch, sockets closed)."""
    if old_role == membership.role:
        return
    channels = DiscussionChannel.objects.select_for_update().filter(
        campaign_id=membership.campaign_id
    )
    lost = False
    for channel in channels:
        if channel.allows_role(old_role) and not channel.allows_role(membership.role):
            WrappedKey.objects.filter(channel=channel, recipient__membership=membership).delete()
            _rotate(channel, exclude_membership=membership.pk)
            lost = True
    if lost:
        emit_member(membership.pk, "member.removed", reason="role")


# --- retention ----------------------------------------------------------------------


def messages_delete_expired(*, now=None) -> int:
    """Delete messages older than their channel's retention. Times are stored
    by the hour, so a message goes at most an hour early, never late."""
    now = now or timezone.now()
    total = 0
    for channel in DiscussionChannel.objects.exclude(retention_days=Retention.FOREVER):
        cutoff = now - timedelta(days=channel.retention_days)
        with transaction.atomic():
            expired = Message.objects.filter(channel=channel, created_hour__lte=cutoff)
            last = expired.order_by("-id").values_list("id", flat=True).first()
            if last is None:
                continue
            count, _detail = expired.delete()
            total += count
            emit(channel_group(channel.pk), {"type": "expired", "up_to_id": last})
    return total
