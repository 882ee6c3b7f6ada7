"""Reads of the encrypted discussion channels, and the dicts their frames
carry (docs/channels-protocol.md)."""

from __future__ import annotations

from discussions.access import Access, current_access
from discussions.models import (
    ChannelKeyEpoch,
    DiscussionChannel,
    MemberDeviceKey,
    Message,
    WrappedKey,
)
from discussions.validation import whole_number
from organizing.models import Membership, Role

HISTORY_PAGE = 50
SYNC_PAGE = 200


def channels_for(*, membership: Membership):
    qs = DiscussionChannel.objects.filter(campaign_id=membership.campaign_id)
    if membership.role == Role.ORGANIZER:
        return qs
    return [c for c in qs if c.allows_role(membership.role)]


# --- devices and wrapped keys -------------------------------------------------------


def device_dict(device: MemberDeviceKey, *, has_key: bool) -> dict:
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
    return [device_dict(d, has_key=d.pk in wrapped) for d in devices]


def wraps_for(*, channel: DiscussionChannel, device: MemberDeviceKey) -> list[dict]:
    return [
        wrap_dict(w)
        for w in WrappedKey.objects.filter(channel=channel, recipient=device).order_by("epoch")
    ]


def wrap_dict(w: WrappedKey) -> dict:
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


def devices_state(access: Access) -> dict:
    """The `devices` frame: who may be in the channel, and who has the key."""
    return {
        "type": "devices",
        "epoch": access.channel.current_epoch,
        "established": epoch_established(channel=access.channel),
        "devices": channel_devices(channel=access.channel),
    }


def welcome(access: Access, device: MemberDeviceKey | None) -> dict:
    """The `welcome` frame: what a socket knows of the channel when it says hello."""
    channel = access.channel
    return {
        "type": "welcome",
        "channel": {
            "id": channel.pk,
            "name": channel.name,
            "allowed_roles": channel.allowed_roles,
            "retention_days": channel.retention_days,
            "archived": channel.is_archived,
            "epoch": channel.current_epoch,
            "established": epoch_established(channel=channel),
            "last_seq": channel.last_seq,
            "expired_before": expired_before_id(channel),
        },
        "me": {
            "member": access.membership.pk,
            "name": access.membership.display_name,
            "device": device.pk if device else None,
            "fingerprint": device.fingerprint if device else None,
        },
        "devices": channel_devices(channel=channel) if device else [],
        "wraps": wraps_for(channel=channel, device=device) if device else [],
    }


# --- messages -----------------------------------------------------------------------


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


def _names(channel: DiscussionChannel) -> dict[int, str]:
    return dict(
        Membership.objects.filter(campaign_id=channel.campaign_id).values_list("pk", "display_name")
    )


def messages_history(*, membership_id: int, channel_id: int, before_id=None, limit=None) -> dict:
    """The page of messages before `before_id` (newest page without it), oldest
    first. Deleted messages are left out."""
    access = current_access(membership_id=membership_id, channel_id=channel_id)
    limit = HISTORY_PAGE if limit is None else whole_number(limit, name="limit", minimum=1)
    limit = min(limit, HISTORY_PAGE)
    qs = Message.objects.filter(channel=access.channel, deleted=False)
    if before_id is not None:
        qs = qs.filter(pk__lt=whole_number(before_id, name="before", minimum=0))
    page = list(qs.order_by("-id")[: limit + 1])
    names = _names(access.channel)
    return {
        "messages": [message_dict(m, names=names) for m in reversed(page[:limit])],
        "has_more": len(page) > limit,
    }


def messages_since(*, membership_id: int, channel_id: int, after_seq) -> dict:
    """Every change after `after_seq`, in order (tombstones included), a page
    at a time: the client asks again from `last_seq` while `complete` is false."""
    access = current_access(membership_id=membership_id, channel_id=channel_id)
    after_seq = whole_number(after_seq, name="after_seq", minimum=0)
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
