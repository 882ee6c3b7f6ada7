"""Channel services: retention task, key rotation on removal, claims."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from discussions import events
from discussions import services as svc
from discussions.models import ChannelKeyEpoch, Message, WrappedKey
from discussions.tasks import delete_expired_messages
from discussions.validation import ChannelError
from organizing import services
from organizing.models import Membership, Role
from tests.discussions.helpers import b64, device_key, fake_ciphertext


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _membership(user, campaign):
    return Membership.objects.get(user=user, campaign=campaign)


def _post(membership, channel, when=None):
    data = svc.message_post(
        membership_id=membership.pk,
        channel_id=channel.pk,
        epoch=channel.current_epoch,
        **fake_ciphertext(),
    )
    if when is not None:
        Message.objects.filter(pk=data["id"]).update(created_hour=when)
    return data["id"]


def test_retention_task_deletes_expired_messages_only(roles, django_capture_on_commit_callbacks):
    day = svc.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="day", retention_days=1
    )
    week = svc.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="week", retention_days=7
    )
    forever = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="forever")
    member = _membership(roles.member, roles.campaign)
    now = timezone.now()
    old_day = _post(member, day, now - timedelta(days=1, hours=1))
    fresh_day = _post(member, day, now - timedelta(hours=2))
    old_week = _post(member, week, now - timedelta(days=8))
    mid_week = _post(member, week, now - timedelta(days=3))
    ancient = _post(member, forever, now - timedelta(days=3000))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert delete_expired_messages.delay().get() == 2
    assert len(callbacks) == 2  # one "expired" event per channel that lost messages
    remaining = set(Message.objects.values_list("pk", flat=True))
    assert remaining == {fresh_day, mid_week, ancient}
    assert old_day not in remaining and old_week not in remaining
    # Nothing more to do the second time.
    assert delete_expired_messages() == 0


def test_retention_task_is_scheduled():
    entries = [e["task"] for e in django_settings.CELERY_BEAT_SCHEDULE.values()]
    assert "organizing.delete_expired_messages" in entries


def test_removal_rotates_only_channels_the_member_could_read(roles):
    general = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    orgs = svc.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="orgs", allowed_roles=[Role.ORGANIZER]
    )
    member = _membership(roles.member, roles.campaign)
    organizer = _membership(roles.organizer, roles.campaign)
    org_device = svc.device_key_register(membership=organizer, public_key=device_key())
    mem_device = svc.device_key_register(membership=member, public_key=device_key())
    svc.keys_store(
        membership_id=organizer.pk,
        channel_id=general.pk,
        device_id=org_device.pk,
        epoch=1,
        claim=True,
        wraps=[
            {"device": d.pk, "wrapped": b64(40), "salt": b64(16)} for d in (org_device, mem_device)
        ],
    )
    _post(member, general)
    member_pk = member.pk
    services.membership_remove(actor=roles.organizer, membership=member)
    general.refresh_from_db()
    orgs.refresh_from_db()
    assert (general.current_epoch, orgs.current_epoch) == (2, 1)
    assert ChannelKeyEpoch.objects.get(channel=general, number=2).established_at is None
    assert not WrappedKey.objects.filter(recipient_id=mem_device.pk).exists()
    # The stored message survives, without a sender.
    assert Message.objects.get(channel=general).sender_id is None
    with pytest.raises(PermissionDenied):
        svc.message_post(
            membership_id=member_pk, channel_id=general.pk, epoch=2, **fake_ciphertext()
        )
    # The new epoch's key goes only to the remaining devices.
    with pytest.raises(ChannelError) as exc:
        svc.keys_store(
            membership_id=organizer.pk,
            channel_id=general.pk,
            device_id=org_device.pk,
            epoch=1,
            wraps=[],
        )
    assert exc.value.code == "wrong_epoch"
    stored = svc.keys_store(
        membership_id=organizer.pk,
        channel_id=general.pk,
        device_id=org_device.pk,
        epoch=2,
        claim=True,
        wraps=[{"device": org_device.pk, "wrapped": b64(40), "salt": b64(16)}],
    )
    assert [w["device"] for w in stored] == [org_device.pk]


def test_group_names_are_opaque(roles):
    channel = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    group = events.channel_group(channel.pk)
    # A keyed hash: nothing in it names the channel or the campaign.
    assert re.fullmatch(r"c\.[0-9a-f]{40}", group)
    assert group != events.channel_group(channel.pk + 1)
    assert group != events.membership_group(channel.pk)
    assert len(group) < 100 and group.replace(".", "").isalnum()


def test_channel_services_refuse_non_organizers(roles):
    channel = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    for role, user in roles.users().items():
        if role == "organizer":
            continue
        with pytest.raises(PermissionDenied):
            svc.channel_create(actor=user, campaign=roles.campaign, name=f"x-{role}")
        with pytest.raises(PermissionDenied):
            svc.channel_update(actor=user, channel=channel, name="nope")
        with pytest.raises(PermissionDenied):
            svc.channel_archive(actor=user, channel=channel)
