"""The channels act on organizing's membership signals, once per change."""

from __future__ import annotations

import pytest
from django.apps import apps

from discussions import services as svc
from organizing import services
from organizing.models import Membership, Role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_each_signal_rotates_once_even_if_ready_runs_again(roles):
    apps.get_app_config("discussions").ready()  # connects nothing twice (dispatch_uid)
    everyone = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="all")
    members = svc.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="members",
        allowed_roles=[Role.MEMBER, Role.ORGANIZER],
    )
    delegate = Membership.objects.get(user=roles.delegate, campaign=roles.campaign)
    member = Membership.objects.get(user=roles.member, campaign=roles.campaign)

    # Delegate to member: may now join "members" (nothing lost), keeps "all".
    services.membership_change_role(actor=roles.organizer, membership=delegate, role=Role.MEMBER)
    # Member to delegate: loses "members".
    services.membership_change_role(actor=roles.organizer, membership=member, role=Role.DELEGATE)
    members.refresh_from_db()
    everyone.refresh_from_db()
    assert (everyone.current_epoch, members.current_epoch) == (1, 2)

    services.membership_remove(actor=roles.organizer, membership=member)
    members.refresh_from_db()
    everyone.refresh_from_db()
    assert (everyone.current_epoch, members.current_epoch) == (2, 2)
