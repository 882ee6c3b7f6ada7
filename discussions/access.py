"""Who may join a channel and act in it.

A socket's access is checked when it connects (channel_access) and again on
every action (current_access), so a member who is removed, changes role or
loses their second factor cannot go on with an open socket.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.mfa.models import Authenticator
from django.utils.translation import gettext as _

from discussions.models import DiscussionChannel
from organizing.models import PRIVILEGED_ROLES, Membership
from organizing.services import NotPermitted, require_role


@dataclass(frozen=True)
class Access:
    channel: DiscussionChannel
    membership: Membership


def channel_access(*, user, channel_id: int) -> Access:
    """The visitor's access to a channel, or an exception.

    DiscussionChannel.DoesNotExist: no such channel. NotPermitted or MFARequired
    (both AppError and PermissionDenied): not a member with a permitted role.
    """
    channel = DiscussionChannel.objects.select_related("campaign").get(pk=channel_id)
    if user is None or not user.is_authenticated:
        raise NotPermitted(_("Sign in first."))
    membership = require_role(user=user, campaign=channel.campaign, roles=channel.allowed_roles)
    return Access(channel=channel, membership=membership)


def current_access(*, membership_id: int, channel_id: int, lock: bool = False) -> Access:
    """Re-check, on every action, that the member is still allowed in."""
    qs = DiscussionChannel.objects.select_related("campaign")
    if lock:
        qs = qs.select_for_update()
    try:
        channel = qs.get(pk=channel_id)
    except DiscussionChannel.DoesNotExist:
        raise NotPermitted(_("This channel no longer exists."))
    membership = Membership.objects.filter(
        pk=membership_id, campaign_id=channel.campaign_id
    ).first()
    if membership is None or not channel.allows_role(membership.role):
        raise NotPermitted(_("You are no longer allowed in this channel."))
    if (
        membership.role in PRIVILEGED_ROLES
        and not Authenticator.objects.filter(user_id=membership.user_id).exists()
    ):
        # The socket's session completed a second factor when it connected;
        # the account has none any more (see discussions.receivers).
        raise NotPermitted(_("Your account no longer has a second factor."))
    return Access(channel=channel, membership=membership)


def member_is_in(*, membership: Membership | None, channel: DiscussionChannel) -> bool:
    return membership is not None and channel.allows_role(membership.role)
