"""Two requests racing to create one row leave no unique violation in
PostgreSQL's log (core.db): joining a campaign, registering a device
key, wrapping a channel key, naming a letter.

Each race is staged: the other request's row is inserted but not committed
when this one writes its own (postgres_log.race_with_uncommitted_row).
"""

from __future__ import annotations

import base64

import pytest

from discussions import services as channel_services
from discussions.models import MemberDeviceKey, WrappedKey
from letters.models import Letter
from letters.services import letter_create
from organizing import services
from organizing.models import Membership, Role
from tests.discussions.helpers import b64, device_key
from tests.support.postgres_log import ServerLog, race_with_uncommitted_row
from tests.support.users import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_joining_through_two_requests_at_once(roles):
    log = ServerLog()
    user = make_user(email="newcomer@personal.test")
    invitation = services.invitation_create(
        actor=roles.organizer, campaign=roles.campaign, max_uses=5
    )

    def joined_elsewhere():
        Membership.objects.create(
            campaign=roles.campaign, user=user, role=Role.MEMBER, display_name="Elsewhere"
        )

    membership = race_with_uncommitted_row(
        joined_elsewhere, lambda: services.invitation_accept(user=user, token=invitation.token)
    )
    assert membership.display_name == "Elsewhere"
    assert Membership.objects.filter(campaign=roles.campaign, user=user).count() == 1
    log.assert_no_conflict_logged()


def test_registering_one_device_key_twice_at_once(roles):
    log = ServerLog()
    membership = Membership.objects.get(user=roles.member, campaign=roles.campaign)
    public_key = device_key()
    fingerprint = channel_services.fingerprint_of(base64.b64decode(public_key))

    def registered_elsewhere():
        MemberDeviceKey.objects.create(
            membership=membership, public_key=public_key, fingerprint=fingerprint
        )

    device = race_with_uncommitted_row(
        registered_elsewhere,
        lambda: channel_services.device_key_register(membership=membership, public_key=public_key),
    )
    assert device.pk == MemberDeviceKey.objects.get(membership=membership).pk
    log.assert_no_conflict_logged(fingerprint)


def test_two_members_wrapping_one_device_key_at_once(roles):
    channel = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="general"
    )
    organizer = Membership.objects.get(user=roles.organizer, campaign=roles.campaign)
    member = Membership.objects.get(user=roles.member, campaign=roles.campaign)
    org_device = channel_services.device_key_register(membership=organizer, public_key=device_key())
    mem_device = channel_services.device_key_register(membership=member, public_key=device_key())
    channel_services.keys_store(
        membership_id=organizer.pk,
        channel_id=channel.pk,
        device_id=org_device.pk,
        epoch=1,
        claim=True,
        wraps=[{"device": org_device.pk, "wrapped": b64(40), "salt": b64(16)}],
    )
    log = ServerLog()
    theirs = {"wrapped": b64(40), "salt": b64(16)}

    def wrapped_elsewhere():
        WrappedKey.objects.create(
            channel=channel,
            epoch=1,
            recipient=mem_device,
            wrapper_public_key=org_device.public_key,
            wrapper_fingerprint=org_device.fingerprint,
            **theirs,
        )

    stored = race_with_uncommitted_row(
        wrapped_elsewhere,
        lambda: channel_services.keys_store(
            membership_id=organizer.pk,
            channel_id=channel.pk,
            device_id=org_device.pk,
            epoch=1,
            wraps=[{"device": mem_device.pk, "wrapped": b64(40), "salt": b64(16)}],
        ),
    )
    assert stored == []
    assert WrappedKey.objects.get(recipient=mem_device).wrapped == theirs["wrapped"]
    log.assert_no_conflict_logged()


def test_two_letters_with_one_title_at_once(roles):
    log = ServerLog()

    def named_elsewhere():
        Letter.objects.create(campaign=roles.campaign, slug="stop-logging", title="Stop logging")

    letter = race_with_uncommitted_row(
        named_elsewhere,
        lambda: letter_create(actor=roles.organizer, campaign=roles.campaign, title="Stop logging"),
    )
    assert letter.slug == "stop-logging-2"
    assert letter.current_revision.number == 1
    assert Letter.objects.filter(campaign=roles.campaign).count() == 2
    log.assert_no_conflict_logged()
