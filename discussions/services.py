"""State changes for the encrypted discussion channels.

Views and the websocket consumer call these functions; nothing else writes the
channel models. The server never sees a channel key or a plaintext: it checks
who may do what, validates the shape of ciphertexts and wrapped keys, keeps
them, and tells connected clients about changes *after* the transaction
commits (a client that misses an event finds the change when it resyncs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.translation import gettext as _

from core import text
from core.db import insert_unless_conflicting
from discussions.models import (
    ChannelKeyEpoch,
    DiscussionChannel,
    MemberDeviceKey,
    Message,
    Retention,
    WrappedKey,
    hour_now,
)
from organizing.models import PRIVILEGED_ROLES, Campaign, Membership, Role
from organizing.services import audit_record, membership_for, require_organizer, require_role

logger = logging.getLogger(__name__)

# Limits on what clients send (bytes after base64 decoding).
MAX_CIPHERTEXT_BYTES = 12 * 1024  # ~4,000 characters of text plus the GCM tag
IV_BYTES = 12  # AES-GCM 96-bit IV
PUBLIC_KEY_BYTES = 65  # uncompressed P-256 point
WRAPPED_KEY_BYTES = 40  # AES-KW of a 256-bit key
SALT_BYTES = 16
MAX_WRAPS_PER_FRAME = 500
MAX_DEVICES_PER_MEMBER = 10
HISTORY_PAGE = 50
SYNC_PAGE = 200


class ChannelError(ValidationError):
    """Bad input from a client; `code` names it in the websocket error frame."""

    def __init__(self, message, code):
        super().__init__(message, code=code)


# --- group names ---------------------------------------------------------------


def _opaque(kind: str, ident: int) -> str:
    key = force_bytes(settings.SECRET_KEY + "organizing.channel-groups")
    digest = hmac.new(key, force_bytes(f"{kind}:{ident}"), hashlib.sha256).hexdigest()
    return f"{kind[0]}.{digest[:40]}"


def channel_group(channel_id: int) -> str:
    """The channel-layer group of a channel: a keyed hash, so Redis (and
    whoever watches it) sees no channel or campaign ids."""
    return _opaque("chan", channel_id)


def membership_group(membership_id: int) -> str:
    """The group of every socket of one membership (used to disconnect it)."""
    return _opaque("memb", membership_id)


# --- events -----------------------------------------------------------------------


def _send_now(group: str, event: dict) -> None:
    import asyncio

    from asgiref.sync import SyncToAsync, async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    # Called from a consumer's database thread: hand the publication to the
    # server's event loop without waiting for it, so the database thread is
    # free for the next action (publications keep their order: the loop runs
    # them first in, first out).
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop)
        future.add_done_callback(_log_failure)
        return
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        # The change is stored; clients find it when they resync.
        logger.exception("Could not publish a channel event")


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("Could not publish a channel event", exc_info=future.exception())


def emit(group: str, frame: dict, **extra) -> None:
    """Publish `frame` to `group` once the current transaction commits.

    The frame is serialized once here; every consumer forwards the same text.
    """
    transaction.on_commit(
        lambda: _send_now(group, channel_event(frame, group=group, **extra)), robust=True
    )


# Frames the consumer must look into before forwarding; the others travel as
# text only (the fan-out to every socket then just forwards one string).
INSPECTED = {"keys", "channel", "rotate"}


def channel_event(frame: dict, *, group: str, **extra) -> dict:
    """The channel-layer event for `frame` (see discussions.fanout)."""
    import json

    event = {
        "type": "chan.event",
        "group": group,
        "kind": frame["type"],
        "text": json.dumps(frame),
        **extra,
    }
    if frame["type"] in INSPECTED:
        event["frame"] = frame
    return event


def emit_member(membership_id: int, event_type: str, **fields) -> None:
    event = {"type": event_type, **fields}
    transaction.on_commit(lambda: _send_now(membership_group(membership_id), event), robust=True)


# --- validation helpers -----------------------------------------------------------


def _b64(value, *, name: str, size: int | None = None, max_size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value:
        raise ChannelError(_("%(name)s is missing.") % {"name": name}, "bad_field")
    if len(value) > 4 * ((max_size or size or 64) + 2) // 3:
        raise ChannelError(_("%(name)s is too long.") % {"name": name}, "too_large")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ChannelError(_("%(name)s is not valid base64.") % {"name": name}, "bad_field")
    if size is not None and len(raw) != size:
        raise ChannelError(_("%(name)s has the wrong length.") % {"name": name}, "bad_field")
    if max_size is not None and len(raw) > max_size:
        raise ChannelError(_("%(name)s is too long.") % {"name": name}, "too_large")
    return raw


def _int(value, *, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 2**62:
        raise ChannelError(_("%(name)s must be a whole number.") % {"name": name}, "bad_field")
    return value


def clean_roles(roles) -> list[str]:
    roles = [r for r in Role.values if r in set(roles or [])]
    if not roles:
        raise ValidationError(_("Choose at least one role that may join."))
    return roles


def clean_retention(days) -> int:
    try:
        days = int(days)
    except (TypeError, ValueError):
        days = -1
    if days not in Retention.values:
        raise ValidationError(_("Choose how long messages are kept."))
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
        raise ValidationError(_("This campaign already has a channel with that name."))
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
            raise ValidationError(_("This campaign already has a channel with that name."))
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


def channels_for(*, membership: Membership):
    qs = DiscussionChannel.objects.filter(campaign_id=membership.campaign_id)
    if membership.role == Role.ORGANIZER:
        return qs
    return [c for c in qs if c.allows_role(membership.role)]


# --- access -----------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    channel: DiscussionChannel
    membership: Membership


def channel_access(*, user, channel_id: int) -> Access:
    """The visitor's access to a channel, or an exception.

    DiscussionChannel.DoesNotExist: no such channel. PermissionDenied (or its
    subclass MFARequired): not a member with a permitted role.
    """
    channel = DiscussionChannel.objects.select_related("campaign").get(pk=channel_id)
    if user is None or not user.is_authenticated:
        raise PermissionDenied(_("Sign in first."))
    membership = require_role(user=user, campaign=channel.campaign, roles=channel.allowed_roles)
    return Access(channel=channel, membership=membership)


def _current_access(*, membership_id: int, channel_id: int, lock: bool = False) -> Access:
    """Re-check, on every action, that the member is still allowed in."""
    qs = DiscussionChannel.objects.select_related("campaign")
    if lock:
        qs = qs.select_for_update()
    try:
        channel = qs.get(pk=channel_id)
    except DiscussionChannel.DoesNotExist:
        raise PermissionDenied(_("This channel no longer exists."))
    membership = Membership.objects.filter(
        pk=membership_id, campaign_id=channel.campaign_id
    ).first()
    if membership is None or not channel.allows_role(membership.role):
        raise PermissionDenied(_("You are no longer allowed in this channel."))
    if (
        membership.role in PRIVILEGED_ROLES
        and not Authenticator.objects.filter(user_id=membership.user_id).exists()
    ):
        # The socket's session completed a second factor when it connected;
        # the account has none any more (see on_authenticator_removed).
        raise PermissionDenied(_("Your account no longer has a second factor."))
    return Access(channel=channel, membership=membership)


# --- device keys and wrapped channel keys ----------------------------------------


def device_key_register(*, membership: Membership, public_key: str) -> MemberDeviceKey:
    """Record a browser's ECDH P-256 public key (idempotent)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    raw = _b64(public_key, name="device_key", size=PUBLIC_KEY_BYTES)
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


def _device_dict(device: MemberDeviceKey, *, has_key: bool) -> dict:
    return {
        "id": device.pk,
        "member": device.membership_id,
        "name": device.membership.display_name,
        "public_key": device.public_key,
        "fingerprint": device.fingerprint,
        "has_key": has_key,
    }


def channel_devices(*, channel: DiscussionChannel) -> list[dict]:
    """Devices of the members who may be in the channel, with whether each has
    the current epoch's key (so a keyholder knows whom to wrap for)."""
    devices = (
        MemberDeviceKey.objects.filter(
            membership__campaign_id=channel.campaign_id,
            membership__role__in=channel.allowed_roles,
        )
        .select_related("membership")
        .order_by("membership__display_name", "id")
    )
    wrapped = set(
        WrappedKey.objects.filter(channel=channel, epoch=channel.current_epoch).values_list(
            "recipient_id", flat=True
        )
    )
    return [_device_dict(d, has_key=d.pk in wrapped) for d in devices]


def wraps_for(*, channel: DiscussionChannel, device: MemberDeviceKey) -> list[dict]:
    return [
        _wrap_dict(w)
        for w in WrappedKey.objects.filter(channel=channel, recipient=device).order_by("epoch")
    ]


def _wrap_dict(w: WrappedKey) -> dict:
    return {
        "epoch": w.epoch,
        "device": w.recipient_id,
        "wrapper_public_key": w.wrapper_public_key,
        "wrapper_fingerprint": w.wrapper_fingerprint,
        "wrapped": w.wrapped,
        "salt": w.salt,
    }


def epoch_established(*, channel: DiscussionChannel, epoch: int | None = None) -> bool:
    return ChannelKeyEpoch.objects.filter(
        channel=channel, number=epoch or channel.current_epoch, established_at__isnull=False
    ).exists()


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
    access = _current_access(membership_id=membership_id, channel_id=channel_id)
    channel = access.channel
    epoch = _int(epoch, name="epoch", minimum=1)
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
        recipient = _int(item.get("device"), name="device", minimum=1)
        wrapped = _b64(item.get("wrapped"), name="wrapped", size=WRAPPED_KEY_BYTES)
        salt = _b64(item.get("salt"), name="salt", size=SALT_BYTES)
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
    stored = [_wrap_dict(row) for row in rows if insert_unless_conflicting(row)]
    if stored:
        frame = {"type": "keys", "epoch": epoch, "wraps": stored}
        emit(channel_group(channel.pk), frame)
    return stored


# --- messages ---------------------------------------------------------------------


def message_dict(message: Message, *, names: dict[int, str] | None = None) -> dict:
    if names is not None:
        name = names.get(message.sender_id)
    else:
        name = message.sender.display_name if message.sender_id else None
    return {
        "id": message.pk,
        "seq": message.seq,
        "epoch": message.epoch,
        "sender": message.sender_id,
        "sender_name": name,
        "ciphertext": message.ciphertext,
        "iv": message.iv,
        "hour": message.created_hour.isoformat(),
        "edited": message.edited,
        "deleted": message.deleted,
    }


def _next_seq(channel: DiscussionChannel) -> int:
    """The next change number; the caller holds the channel row lock."""
    DiscussionChannel.objects.filter(pk=channel.pk).update(last_seq=F("last_seq") + 1)
    channel.refresh_from_db(fields=["last_seq"])
    return channel.last_seq


def _check_ciphertext(*, channel: DiscussionChannel, epoch, ciphertext, iv) -> tuple[str, str]:
    if channel.is_archived:
        raise ChannelError(_("This channel is archived."), "archived")
    epoch = _int(epoch, name="epoch", minimum=1)
    if epoch != channel.current_epoch:
        raise ChannelError(
            _("Messages must use the current key epoch (%(epoch)s).")
            % {"epoch": channel.current_epoch},
            "wrong_epoch",
        )
    raw_ct = _b64(ciphertext, name="ciphertext", max_size=MAX_CIPHERTEXT_BYTES)
    if len(raw_ct) < 17:  # at least one byte plus the 16-byte GCM tag
        raise ChannelError(_("ciphertext is too short."), "bad_field")
    _b64(iv, name="iv", size=IV_BYTES)
    return ciphertext, iv


@transaction.atomic
def message_post(*, membership_id: int, channel_id: int, epoch, ciphertext, iv) -> dict:
    access = _current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
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
    message_id = _int(message_id, name="id", minimum=1)
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
    access = _current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
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
    access = _current_access(membership_id=membership_id, channel_id=channel_id, lock=True)
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


def _names(channel: DiscussionChannel) -> dict[int, str]:
    return dict(
        Membership.objects.filter(campaign_id=channel.campaign_id).values_list("pk", "display_name")
    )


def messages_history(*, membership_id: int, channel_id: int, before_id=None, limit=None) -> dict:
    """The page of messages before `before_id` (newest page without it), oldest
    first. Deleted messages are left out."""
    access = _current_access(membership_id=membership_id, channel_id=channel_id)
    limit = HISTORY_PAGE if limit is None else _int(limit, name="limit", minimum=1)
    limit = min(limit, HISTORY_PAGE)
    qs = Message.objects.filter(channel=access.channel, deleted=False)
    if before_id is not None:
        qs = qs.filter(pk__lt=_int(before_id, name="before", minimum=0))
    page = list(qs.order_by("-id")[: limit + 1])
    names = _names(access.channel)
    return {
        "messages": [message_dict(m, names=names) for m in reversed(page[:limit])],
        "has_more": len(page) > limit,
    }


def messages_since(*, membership_id: int, channel_id: int, after_seq) -> dict:
    """Every change after `after_seq`, in order (tombstones included), a page
    at a time: the client asks again from `last_seq` while `complete` is false."""
    access = _current_access(membership_id=membership_id, channel_id=channel_id)
    after_seq = _int(after_seq, name="after_seq", minimum=0)
    page = list(
        Message.objects.filter(channel=access.channel, seq__gt=after_seq).order_by("seq")[
            : SYNC_PAGE + 1
        ]
    )
    names = _names(access.channel)
    messages = [message_dict(m, names=names) for m in page[:SYNC_PAGE]]
    complete = len(page) <= SYNC_PAGE
    return {
        "messages": messages,
        "complete": complete,
        "last_seq": messages[-1]["seq"] if messages else max(after_seq, 0),
        "channel_seq": access.channel.last_seq,
        "expired_before": expired_before_id(access.channel),
    }


def expired_before_id(channel: DiscussionChannel) -> int:
    """Messages with an id below this one are gone (retention)."""
    first = Message.objects.filter(channel=channel).order_by("id").values_list("id", flat=True)[:1]
    return first[0] if first else 0


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


def on_membership_removed(*, membership: Membership, actor) -> None:
    """organizing.services.membership_removed_hooks entry: rotate the key of
    every channel the removed member could be in, and cut their sockets."""
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


def on_authenticator_removed(*, user, **kwargs) -> None:
    """allauth's authenticator_removed receiver: an organizer or delegate left
    without a second factor loses their open sockets at once (their next
    connection is refused until they have one again)."""
    if Authenticator.objects.filter(user_id=user.pk).exists():
        return
    privileged = Membership.objects.filter(user_id=user.pk, role__in=PRIVILEGED_ROLES)
    for membership_id in privileged.values_list("pk", flat=True):
        emit_member(membership_id, "member.removed", reason="mfa")


def on_membership_role_changed(*, membership: Membership, old_role: str, actor) -> None:
    """organizing.services.membership_role_changed_hooks entry: a member whose
    new role may not join a channel loses it like a removed member (new key
    epoch, sockets closed)."""
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


def member_is_in(*, membership: Membership | None, channel: DiscussionChannel) -> bool:
    return membership is not None and channel.allows_role(membership.role)


__all__ = [
    "Access",
    "ChannelError",
    "channel_access",
    "channel_archive",
    "channel_create",
    "channel_devices",
    "channel_group",
    "channel_update",
    "channels_for",
    "device_key_register",
    "keys_store",
    "membership_for",
    "membership_group",
    "message_delete",
    "message_edit",
    "message_post",
    "messages_delete_expired",
    "messages_history",
    "messages_since",
    "on_membership_removed",
    "wraps_for",
]
